"""The admin command: organizations, namespaces, keys shown once, listing, revocation."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from agent_sessions import admin
from agent_sessions.authorizer import UnauthorizedSignal, authorize
from agent_sessions.identity.api_keys import is_api_key, key_digest
from agent_sessions.identity.store import IdentityStore
from agent_sessions.settings import get_settings
from test_auth import request_event


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert admin.main(["--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_new_user_sets_up_a_tenant_and_the_key_works(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    org = run(capsys, "create-org", "--name", "acme")
    assert org["internal_id"].startswith("int_")
    namespace = run(capsys, "create-namespace", "--org", org["internal_id"], "--name", "production")
    assert namespace["namespace_id"].startswith("ns_")
    issued = run(capsys, "create-key", "--org", org["internal_id"], "--namespace", "production", "--name", "ci")
    assert is_api_key(issued["key"])
    assert issued["prefix"] == issued["key"][:11]
    assert issued["namespaces"] == [namespace["namespace_id"]]
    assert issued["scopes"] == ["sessions:read", "sessions:write"]
    assert "digest" not in issued

    store = IdentityStore(get_settings())
    result = authorize(request_event(f"Bearer {issued['key']}", "production"), store)
    assert result["context"]["namespace_id"] == namespace["namespace_id"]

    listed = run(capsys, "list-keys", "--org", org["internal_id"])
    assert [k["key_id"] for k in listed["keys"]] == [issued["key_id"]]
    assert issued["key"] not in json.dumps(listed)
    assert listed["keys"][0]["prefix"] == issued["prefix"]

    items = json.dumps(table.scan(TableName=os.environ["IDENTITIES_TABLE_NAME"])["Items"])
    assert issued["key"] not in items
    assert key_digest(issued["key"]) in items

    revoked = run(capsys, "revoke-key", "--org", org["internal_id"], "--key-id", issued["key_id"])
    assert revoked["revoked_at"]
    assert revoked["authorizer_cache"].startswith("not flushed: give --api-id and --stage")  # no API named
    with pytest.raises(UnauthorizedSignal):
        authorize(request_event(f"Bearer {issued['key']}", "production"), store)
    again = run(capsys, "revoke-key", "--org", org["internal_id"], "--key-id", issued["key_id"])
    assert again["revoked_at"] == revoked["revoked_at"]  # revoking twice keeps the first time


def test_the_text_output_prints_the_key_once(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    org = run(capsys, "create-org", "--name", "acme")
    assert admin.main(["create-key", "--org", org["internal_id"], "--scope", "sessions:read"]) == 0
    out = capsys.readouterr().out
    assert "shown once" in out
    key = next(word for word in out.split() if word.startswith("sk_") and len(word) > 40)
    assert out.count(key) == 1
    assert admin.main(["list-keys", "--org", org["internal_id"]]) == 0
    listing = capsys.readouterr().out
    assert key not in listing
    assert key[:11] in listing


def test_namespace_names_are_unique_per_organization(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a = run(capsys, "create-org", "--name", "a")["internal_id"]
    b = run(capsys, "create-org", "--name", "b")["internal_id"]
    run(capsys, "create-namespace", "--org", a, "--name", "prod")
    run(capsys, "create-namespace", "--org", b, "--name", "prod")  # another organization: fine
    assert admin.main(["create-namespace", "--org", a, "--name", "prod"]) == 1
    assert "exists" in capsys.readouterr().err
    assert [n["name"] for n in run(capsys, "list-namespaces", "--org", a)["namespaces"]] == ["prod"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create-namespace", "--org", "int_missing", "--name", "prod"], "not found"),
        (["create-namespace", "--org", "{org}", "--name", "ns_looks_like_an_id"], "Invalid namespace name"),
        (["create-namespace", "--org", "{org}", "--name", "Has Spaces"], "Invalid namespace name"),
        (["create-key", "--org", "int_missing"], "not found"),
        (["create-key", "--org", "{org}", "--namespace", "nope"], "not found"),
        (["revoke-key", "--org", "{org}", "--key-id", "key_missing"], "not found"),
    ],
)
def test_mistakes_are_reported_and_change_nothing(
    table: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    org = run(capsys, "create-org", "--name", "acme")["internal_id"]
    before = table.scan(TableName=os.environ["IDENTITIES_TABLE_NAME"])["Items"]
    assert admin.main([part.replace("{org}", org) for part in argv]) == 1
    assert message in capsys.readouterr().err
    assert table.scan(TableName=os.environ["IDENTITIES_TABLE_NAME"])["Items"] == before


def test_a_flush_that_fails_is_reported_and_the_key_stays_revoked(
    table: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from support import _free_port

    org = run(capsys, "create-org", "--name", "acme")["internal_id"]
    issued = run(capsys, "create-key", "--org", org)
    monkeypatch.setenv("AWS_ENDPOINT_URL_API_GATEWAY", f"http://127.0.0.1:{_free_port()}")  # nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    argv = ["revoke-key", "--org", org, "--key-id", issued["key_id"], "--api-id", "abc123", "--stage", "dev"]
    assert admin.main(argv) == 1
    error = capsys.readouterr().err
    assert "the key is revoked, but the authorizer cache of API abc123 stage dev was not flushed" in error
    listed = run(capsys, "list-keys", "--org", org)
    assert listed["keys"][0]["revoked_at"]
