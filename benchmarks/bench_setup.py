"""What every benchmark does first: import paths (the layer, the local runtime, the test
support) and a fake-credential AWS environment, before anything imports boto3."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "layers" / "shared"), str(ROOT / "clients" / "python")]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)


def write_results(section: str, figures: object) -> None:
    """Merge one benchmark's figures into benchmarks/results.json (the others' stay)."""
    import json

    out = ROOT / "benchmarks" / "results.json"
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing[section] = figures
    out.write_text(json.dumps(existing, indent=2) + "\n")


def call(
    function: str, method: str, resource: str, session_id: str | None = None, seq: int | None = None, **kwargs: object
) -> dict:
    """One request to a function's handler, as API Gateway sends it for the test tenant;
    the decoded body of its 2xx (anything else stops the benchmark)."""
    import json

    from support import TENANT, LambdaContext, api_event, load_function

    event = api_event(
        method,
        resource,
        path_parameters=({"session_id": session_id} if session_id else {})
        | ({"seq": str(seq)} if seq is not None else {})
        or None,
        authorizer=TENANT,
        **kwargs,  # type: ignore[arg-type]
    )
    response = load_function(function).lambda_handler(event, LambdaContext(function))
    assert 200 <= response["statusCode"] < 300, response["body"]
    return dict(json.loads(response["body"]))
