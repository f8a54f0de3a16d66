"""The API's one OpenAPI document, generated from the functions' own resolvers (Powertools
builds each function's part from its routes and pydantic models) and merged.

Powertools documents a 422 with its own validation-error schema; the handlers answer every
error with the contract's envelope instead, so every error response here is the envelope.

    python -m local_runtime.openapi          # print it
    python -m local_runtime.openapi --write  # refresh the committed copy
"""

from __future__ import annotations

import json
import sys
from typing import Any

from local_runtime.template import ROOT, read_stack

DOCUMENT = ROOT / "layers" / "shared" / "agent_sessions" / "openapi.json"
TITLE = "Agent Sessions"
VERSION = "1.0.0"

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["success", "status", "error"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "status": {"type": "integer"},
        "error": {
            "type": "object",
            "required": ["type", "message", "code", "details"],
            "properties": {
                "type": {"type": "string", "examples": ["NotFoundError"]},
                "message": {"type": "string"},
                "code": {"type": "string", "examples": ["session_not_found"]},
                "details": {"type": "object"},
            },
        },
    },
}
ERRORS = {
    "400": "Bad request, cursor or JSON",
    "401": "Missing, malformed, unknown or revoked API key",
    "403": "A namespace the key may not use, or a route its scopes do not allow",
    "404": "Unknown, other-tenant or expired session",
    "409": "Read-only session, an Idempotency-Key reused with another body, or a seq beyond the conversation",
    "412": "If-Match is stale",
    "413": "Too large",
    "422": "Validation failed (details.errors lists each field)",
    "429": "Quota or throttle (Retry-After)",
    "503": "Store unavailable (Retry-After)",
}
PUBLIC = {"/v1/health", "/v1/openapi.json"}


def build_document(modules: dict[str, Any]) -> dict[str, Any]:
    """Merge the resolvers (`app`) of the given function modules into one document."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name in sorted(modules):
        resolver = getattr(modules[name], "app", None)
        if resolver is None or not hasattr(resolver, "get_openapi_json_schema"):
            continue
        part = json.loads(resolver.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in part.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(part.get("components", {}).get("schemas", {}))
    for operations in paths.values():
        for operation in operations.values():
            if "parameters" in operation:
                operation["parameters"] = _parameters(operation["parameters"])
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    for path, operations in paths.items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in list(responses):
                if status.startswith(("4", "5")):
                    del responses[status]
            if path in PUBLIC:
                operation["security"] = []
                continue
            for status, description in ERRORS.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
                }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Conversation sessions between users and AI agents, per organization and namespace.",
        },
        "servers": [{"url": "http://127.0.0.1:3000", "description": "make run"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sk_…"},
                "namespace": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Namespace",
                    "description": "A namespace id (ns_…) or its name",
                },
            },
        },
        "security": [{"apiKey": [], "namespace": []}],
    }


def _parameters(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """State in OpenAPI's terms what the functions declare in JSON Schema's:
    - a string parameter holding JSON (`contentMediaType` + `contentSchema`) becomes a
      parameter with `content`, so a client sends (and a generator makes) a JSON object;
    - parameters marked `x-exactly-one-of` with the same group become one form-exploded object
      parameter (serialized as the separate parameters it holds) whose schema is a oneOf."""
    from agent_sessions.http import EXACTLY_ONE_OF  # the layer is on the path once functions load

    result: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for parameter in parameters:
        schema = dict(parameter.get("schema", {}))
        if schema.get("contentMediaType") == "application/json":
            media = schema.pop("contentMediaType")
            content_schema = schema.pop("contentSchema")
            described = {key: value for key, value in parameter.items() if key != "schema"}
            result.append(described | {"content": {media: {"schema": content_schema}}})
            continue
        # A query parameter that is present has a value: an optional function argument's null
        # branch is not something a client can send.
        branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
        if len(branches) == 1:
            schema = branches[0] | schema
        elif branches:
            schema["anyOf"] = branches
        group = schema.pop(EXACTLY_ONE_OF, None)
        if group is None:
            result.append(parameter | {"schema": schema})
            continue
        merged = groups.get(group)
        if merged is None:
            merged = groups[group] = {
                "name": group,
                "in": "query",
                "required": True,
                "style": "form",
                "explode": True,
                "description": "exactly one of: ",
                "schema": {"oneOf": []},
            }
            result.append(merged)
        name = parameter["name"]
        schema.pop("title", None)
        if "description" in parameter:
            schema["description"] = parameter["description"]
        alternatives = merged["schema"]["oneOf"]
        alternatives.append(
            {"type": "object", "properties": {name: schema}, "required": [name], "additionalProperties": False}
        )
        merged["description"] = "exactly one of: " + ", ".join(
            f"`{next(iter(alternative['properties']))}`" for alternative in alternatives
        )
    return result


def generate() -> dict[str, Any]:
    """Import every function of the template (as the local runtime does) and build the document."""
    from local_runtime.lambdas import Functions

    stack = read_stack(table_names={"SessionsTable": "openapi", "IdentitiesTable": "openapi-identities"})
    functions = Functions(stack)
    return build_document({name: functions.module(name) for name in functions.names()})


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(generate())
    if "--write" in argv:
        DOCUMENT.write_text(text)
        print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
