"""`make run` as a process: started on a free port with its own state directory, driven over
HTTP, stopped with Ctrl-C (SIGINT). Shared by the integration tests and the soak."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import ROOT, _free_port

DEV_KEY = "sk_" + "LocalRuntimeTestKey0123456789abcdefghijklmnop"


@dataclass
class Runtime:
    process: subprocess.Popen[str]
    base_url: str
    state_dir: Path
    ready_seconds: float
    output: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {"Authorization": f"Bearer {DEV_KEY}", "X-Namespace": "it", **(headers or {})}
        all_headers = {k: v for k, v in all_headers.items() if v is not None}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        status, _, data = self.request(method, path, body, **kwargs)
        return status, json.loads(data) if data else None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


def start_runtime(state_dir: Path) -> Runtime:
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LOCAL_STATE_DIR": str(state_dir),
        "DEV_API_KEY": DEV_KEY,
        "DEV_NAMESPACE": "it",
        "SCHEDULE_SECONDS": "2",
    }
    for name in (
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
        "TABLE_NAME",
        "IDENTITIES_TABLE_NAME",
        "ATTACHMENTS_BUCKET",
        "CURSOR_SIGNING_KEY",
    ):
        env.pop(name, None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_runtime"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    runtime = Runtime(process, f"http://127.0.0.1:{port}", state_dir, 0.0)
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            runtime.output.append(line)
            if "is running on" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(90):
        process.kill()
        raise AssertionError("the runtime did not start:\n" + "".join(runtime.output))
    runtime.ready_seconds = time.monotonic() - started
    return runtime


def processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def child_command_lines(pid: int) -> dict[int, str]:
    """The direct children of a process and their command lines (the JVM of DynamoDB Local)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
    return found
