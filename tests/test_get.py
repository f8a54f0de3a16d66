"""GET /v1/agents/sessions/{session_id}: one call, ETag, tenancy, expiry, derived idle."""

from __future__ import annotations

from support import OTHER_TENANT, body_of, header_of


def test_get_returns_the_session_with_its_etag_in_one_call(api, calls):
    created = api.created({"user_id": "u1"})
    calls.reset()
    response = api.call("get", session_id=created["session_id"])
    assert response["statusCode"] == 200
    assert body_of(response) == created
    assert header_of(response, "ETag") == '"1"'
    assert calls.calls == {"Query": 1}  # the head and the body, adjacent in the session's partition


def test_unknown_session_is_404_with_the_envelope(api):
    response = api.call("get", session_id="ses_" + "a" * 22)
    assert response["statusCode"] == 404
    assert header_of(response, "Content-Type") == "application/json"
    assert body_of(response) == {
        "success": False,
        "status": 404,
        "error": {
            "type": "NotFoundError",
            "message": f"Session ses_{'a' * 22} not found",
            "code": "session_not_found",
            "details": {"session_id": "ses_" + "a" * 22},
        },
    }


def test_malformed_ids_are_404_without_touching_the_store(api, calls):
    # callers may name sessions (1-128 of [A-Za-z0-9_.:-]); anything else cannot exist
    for bad in ("ses_" + "a" * 22 + "#SESSION", "../etc/passwd", "a b", "x" * 129, "naïve"):
        calls.reset()
        assert api.call("get", session_id=bad)["statusCode"] == 404
        assert calls.total == 0
    for unknown in ("nope", "ses_short", "thread:42.a-b_c"):
        calls.reset()
        assert api.call("get", session_id=unknown)["statusCode"] == 404
        assert calls.calls == {"Query": 1}


def test_another_namespace_cannot_see_the_session(api):
    created = api.created({"user_id": "u1"})
    response = api.call("get", session_id=created["session_id"], tenant=OTHER_TENANT)
    assert response["statusCode"] == 404
    assert "u1" not in response["body"]


def test_session_is_gone_at_expires_at_exactly(api, frozen_clock):
    sid = api.created({"ttl_seconds": 60})["session_id"]
    frozen_clock.advance(59.999)
    assert api.call("get", session_id=sid)["statusCode"] == 200
    frozen_clock.advance(0.001)
    assert api.call("get", session_id=sid)["statusCode"] == 404


def test_idle_is_derived_on_read(api, frozen_clock):
    sid = api.created({})["session_id"]
    frozen_clock.advance(1799)
    assert body_of(api.call("get", session_id=sid))["status"] == "active"
    frozen_clock.advance(1)
    assert body_of(api.call("get", session_id=sid))["status"] == "idle"
