"""The botocore data the layer's DynamoDB client loads, generated from the installed botocore.

A botocore client's cold start is mostly data loading: listing the ~440 service directories
botocore ships (to check the name), decoding endpoints.json (1.2 MB, every service of every
partition) and the DynamoDB model with its documentation. The layer ships the same data cut
to what a DynamoDB client reads — DynamoDB's model without documentation strings, its
endpoint rules, paginators and waiters, the partitions, the retry and default configuration,
and endpoints.json with DynamoDB's entries only — and its client loads from there alone
(agent_sessions.store.client) when the botocore it runs with is the one the data was cut from
(else botocore's own data). Same bytes where it matters: a test holds the committed copy equal
to what this generates.

    python -m local_runtime.botocore_data          # compare with the committed copy
    python -m local_runtime.botocore_data --write  # refresh it (after a botocore upgrade)
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import botocore

from local_runtime.template import ROOT

TARGET = ROOT / "layers" / "shared" / "agent_sessions" / "store" / "botocore_data"
SOURCE = Path(botocore.__file__).parent / "data"
SERVICE = "dynamodb"
ROOT_FILES = ("_retry.json", "sdk-default-configuration.json", "partitions.json")
SERVICE_FILES = ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2")
UNUSED_KEYS = frozenset({"documentation", "documentationUrl"})
# Which botocore the data was cut from: the client uses it only under that same version (the
# Lambda runtime's own botocore may be older or newer than the one the layer was built with).
VERSION_FILE = "botocore-version.json"


def _read(path: Path) -> Any:
    if path.exists():
        return json.loads(path.read_bytes())
    return json.loads(gzip.decompress(path.with_name(path.name + ".gz").read_bytes()))


def _without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_documentation(item) for key, item in value.items() if key not in UNUSED_KEYS}
    if isinstance(value, list):
        return [_without_documentation(item) for item in value]
    return value


def _render(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True) + "\n"


def generate() -> dict[str, str]:
    """{relative path: text} of the data directory."""
    files = {name: _render(_read(SOURCE / name)) for name in ROOT_FILES}
    endpoints = _read(SOURCE / "endpoints.json")
    for partition in endpoints["partitions"]:
        partition["services"] = {
            name: entry for name, entry in partition["services"].items() if name in (SERVICE, f"streams.{SERVICE}")
        }
    files["endpoints.json"] = _render(endpoints)
    files[VERSION_FILE] = _render({"botocore": botocore.__version__})
    version = max(path.name for path in (SOURCE / SERVICE).iterdir() if path.is_dir())  # what botocore picks
    for name in SERVICE_FILES:
        data = _read(SOURCE / SERVICE / version / f"{name}.json")
        files[f"{SERVICE}/{version}/{name}.json"] = _render(_without_documentation(data))
    return files


def committed() -> dict[str, str]:
    return {str(path.relative_to(TARGET)): path.read_text() for path in sorted(TARGET.rglob("*.json"))}


def main(argv: list[str]) -> int:
    files = generate()
    if "--write" in argv:
        for path in TARGET.rglob("*.json"):
            path.unlink()
        for name, text in files.items():
            (TARGET / name).parent.mkdir(parents=True, exist_ok=True)
            (TARGET / name).write_text(text)
        print(f"wrote {len(files)} files to {TARGET.relative_to(ROOT)}", file=sys.stderr)
        return 0
    if files != committed():
        print(
            f"{TARGET.relative_to(ROOT)} is stale: run python -m local_runtime.botocore_data --write", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
