"""Contract fuzzing: schemathesis generates requests for every operation of the committed
OpenAPI document (docs/openapi.json, itself generated from the code) and sends them to the
local runtime. No response is a 5xx, and every response conforms to the document (status
codes, content types, bodies, headers)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from local_runtime.template import ROOT
from reliability.conftest import LiveApi, scale

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

schema = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.json"))


@schema.parametrize()
@settings(
    max_examples=scale(12, 150),
    deadline=None,
    derandomize=True,  # the bounded run in CI is the same run every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_conforms(case: Any, live_api: LiveApi) -> None:
    headers = {"Authorization": f"Bearer {live_api.key}", "X-Namespace": live_api.namespace}
    # Excluded: ST204 wants 405 for a method the document does not list. A REST API Gateway
    # answers such a request with its MISSING_AUTHENTICATION_TOKEN response, which the
    # template (and the local runtime) render as the contract's 404 route_not_found.
    # Excluded: ST202 wants every schema-valid request accepted, but the contract also has
    # rules across fields and over time that JSON Schema cannot state (`expires_at` in the
    # future, not with `ttl_seconds`; a cursor signed by the server): those get a 422/400 in
    # the envelope, which the other checks still hold to the document.
    case.call_and_validate(
        base_url=live_api.base_url,
        headers=headers,
        excluded_checks=[unsupported_method, positive_data_acceptance],
    )
