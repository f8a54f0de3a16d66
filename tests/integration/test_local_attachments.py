"""Attachments and large contents through `make run` over HTTP (DESIGN §11): its local S3 on
disk under the state directory, presigned URLs that work, the stream's cascade keeping S3 in
step, objects that survive a restart."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from local_process import Runtime, start_runtime

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def local_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    runtime = start_runtime(tmp_path_factory.mktemp("attachments-state"))
    try:
        yield runtime
    finally:
        runtime.stop()


def data(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // 32 + 1))[:size]


def fetch(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def history(runtime: Runtime, sid: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, _, raw = runtime.request("GET", f"/v1/agents/sessions/{sid}/history?limit=200{cursor}")
        assert status == 200, raw[:300]
        assert len(raw) < 6_000_000
        page = json.loads(raw)
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        cursor = "&cursor=" + page["next_cursor"]


def until(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def stored_files(runtime: Runtime, sid: str) -> list[str]:
    folder = runtime.state_dir / "s3" / "agent-sessions-local-attachments"
    if not folder.exists():
        return []
    keys = [json.loads(p.read_text())["key"] for p in folder.glob("*.json")]
    return sorted(key for key in keys if f"/{sid}/" in key)


def test_inline_and_uploaded_files_and_large_contents_round_trip(local_runtime: Runtime) -> None:
    status, session = local_runtime.json("POST", "/v1/agents/sessions", {})
    assert status == 200
    sid = session["session_id"]
    photo = data(2 * MIB, 1)
    status, appended = local_runtime.json(
        "POST",
        f"/v1/agents/sessions/{sid}/messages",
        {
            "content": "look",
            "attachments": [{"name": "photo.png", "mime_type": "image/png", "data": base64.b64encode(photo).decode()}],
        },
    )
    assert status == 200, appended
    # a 30 MiB PDF by upload
    pdf = data(30 * MIB, 2)
    status, ticket = local_runtime.json(
        "POST",
        f"/v1/agents/sessions/{sid}/attachments",
        {
            "name": "big.pdf",
            "mime_type": "application/pdf",
            "size": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
        },
    )
    assert status == 201, ticket
    put_status, _ = fetch(ticket["upload_url"], "PUT", pdf, ticket["upload_headers"])
    assert put_status == 200
    status, appended = local_runtime.json(
        "POST",
        f"/v1/agents/sessions/{sid}/messages",
        {"content": "the pdf", "attachments": [{"attachment_id": ticket["attachment_id"]}]},
    )
    assert status == 200, appended
    # a missing upload is 409 and stores nothing
    status, refused = local_runtime.json(
        "POST",
        f"/v1/agents/sessions/{sid}/messages",
        {"content": "x", "attachments": [{"attachment_id": "att_" + "Q" * 22}]},
    )
    assert status == 409 and refused["error"]["code"] == "attachment_not_uploaded"
    # four 3 MiB tool outputs
    outputs = [chr(ord("a") + i) * (3 * MIB) for i in range(4)]
    for output in outputs:
        status, _ = local_runtime.json(
            "POST", f"/v1/agents/sessions/{sid}/messages", {"role": "tool", "content": output}
        )
        assert status == 200
    messages = history(local_runtime, sid)
    assert len(messages) == 6
    assert fetch(messages[0]["attachments"][0]["url"]) == (200, photo)
    assert fetch(messages[1]["attachments"][0]["url"]) == (200, pdf)
    contents = [m["content"] if m["content"] is not None else fetch(m["content_url"])[1].decode() for m in messages[2:]]
    assert contents == outputs
    # the files are under the state directory, settled by the stream's consumer
    assert len(stored_files(local_runtime, sid)) == 6


def test_objects_survive_a_restart_and_follow_a_purge(local_runtime: Runtime) -> None:
    status, session = local_runtime.json("POST", "/v1/agents/sessions", {})
    sid = session["session_id"]
    photo = data(300_000, 3)
    status, appended = local_runtime.json(
        "POST",
        f"/v1/agents/sessions/{sid}/messages",
        {
            "content": "x",
            "attachments": [{"name": "p.png", "mime_type": "image/png", "data": base64.b64encode(photo).decode()}],
        },
    )
    assert status == 200, appended
    status, fork = local_runtime.json("POST", f"/v1/agents/sessions/{sid}/fork", {})
    assert status == 200, fork
    child = fork["session_id"]
    local_runtime.stop()
    again = start_runtime(local_runtime.state_dir)
    try:
        assert fetch(history(again, sid)[0]["attachments"][0]["url"]) == (200, photo)
        status, _ = again.json("DELETE", f"/v1/agents/sessions/{sid}?purge=true")
        assert status == 200
        until(lambda: stored_files(again, sid) == [])
        assert fetch(history(again, child)[0]["attachments"][0]["url"]) == (200, photo)
    finally:
        again.stop()
    restarted = start_runtime(local_runtime.state_dir)
    local_runtime.process = restarted.process
    local_runtime.base_url = restarted.base_url
