"""What every benchmark does first: import paths (the layer, the local runtime, the test
support) and a fake-credential AWS environment, before anything imports boto3."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "layers" / "shared")]
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
