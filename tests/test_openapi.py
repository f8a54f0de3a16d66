"""The committed OpenAPI document is the one the code generates (CI fails when it is stale)."""

from __future__ import annotations

from typing import Any

from local_runtime.openapi import DOCUMENT, build_document, render


def test_committed_document_is_fresh(local_functions: Any) -> None:
    generated = render(build_document({name: local_functions.module(name) for name in local_functions.names()}))
    assert DOCUMENT.read_text() == generated, "stale: run `make openapi` and commit the result"


def test_every_error_is_documented_as_the_envelope(local_functions: Any) -> None:
    document = build_document({name: local_functions.module(name) for name in local_functions.names()})
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]
