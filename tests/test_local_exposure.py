"""`make run` stays on this machine unless told otherwise: binding another interface needs
LOCAL_ALLOW_REMOTE=1 (and prints a warning); even then the endpoints that take no credentials
(the Lambda Invoke API, the local EventBridge, the authorizer-cache flush) answer loopback
clients only, as `sam local start-lambda` is meant to be used."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.apigateway import Gateway
from local_runtime.server import LocalServer, is_loopback
from support import ROOT


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def this_machines_other_address() -> str | None:
    """An address of this machine that is not loopback (None when it has none)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.254.254.254", 1))  # no packet is sent: this only picks a route
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if is_loopback(address) or address == "0.0.0.0" else address


@pytest.fixture
def server_on_every_interface(table: Any, local_functions: Any) -> Iterator[LocalServer]:
    server = LocalServer(
        ("0.0.0.0", 0),
        Gateway(local_functions.stack, local_functions.invoke),
        local_functions,
        access_log=open(os.devnull, "w"),  # noqa: SIM115
    )
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def request(host: str, port: int, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request(method, path, body=b"{}", headers=headers or {})
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_endpoints_without_credentials_answer_this_machine_only(server_on_every_interface: LocalServer) -> None:
    other = this_machines_other_address()
    if other is None:
        pytest.skip("this machine has no address but loopback")
    port = server_on_every_interface.server_address[1]
    invoke = "/2015-03-31/functions/NoSuchFunction/invocations"
    flush = "/restapis/local/stages/local/cache/authorizers"
    events = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
    assert request(other, port, "POST", invoke) == 403
    assert request(other, port, "DELETE", flush) == 403
    assert request(other, port, "POST", "/", events) == 403
    assert request(other, port, "GET", "/v1/health") == 200  # the API itself is served
    assert request("127.0.0.1", port, "POST", invoke) == 404  # this machine reaches the Invoke API
    assert request("127.0.0.1", port, "DELETE", flush) == 202


def test_make_run_refuses_another_interface_unless_told(tmp_path: Any) -> None:
    environment = {**os.environ, "HOST": "0.0.0.0", "LOCAL_STATE_DIR": str(tmp_path), "PORT": "0"}
    environment.pop("LOCAL_ALLOW_REMOTE", None)
    done = subprocess.run(
        [sys.executable, "-m", "local_runtime"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LOCAL_ALLOW_REMOTE=1" in done.stdout + done.stderr


def test_another_interface_with_the_setting_is_served_with_a_warning() -> None:
    from local_runtime.__main__ import exposure

    assert exposure("127.0.0.1", {}) == (None, None)
    refusal, _ = exposure("0.0.0.0", {})
    assert refusal and "LOCAL_ALLOW_REMOTE=1" in refusal
    refusal, warning = exposure("0.0.0.0", {"LOCAL_ALLOW_REMOTE": "1"})
    assert refusal is None and warning and warning.startswith("WARNING: serving on 0.0.0.0")
