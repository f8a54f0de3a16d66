"""The live API for the client's tests: the local runtime on DynamoDB Local (the reliability
suite's harness), with a real organization, namespace and key; and a second process that
resumes a conversation against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from reliability.conftest import live_api
from support import ROOT

__all__ = ["live_api", "resume_in_another_process"]


def resume_in_another_process(api: Any, script: str, **env: str) -> Any:
    """Run `script` in a new Python process pointed at the live API (the client's own
    environment variables) and return the JSON its last line prints."""
    environment = {
        **os.environ,
        "AGENT_SESSIONS_URL": api.base_url,
        "AGENT_SESSIONS_API_KEY": api.key,
        "AGENT_SESSIONS_NAMESPACE": api.namespace,
        "CLIENT_PATH": str(ROOT / "clients" / "python"),
        "TESTS_PATH": str(ROOT / "tests"),
        **env,
    }
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
