from support import body_of


def test_create_then_get(api, calls):
    created = api.created({"user_id": "u1", "metadata": {"team": "a"}})
    response = api.call("get", session_id=created["session_id"])
    assert response["statusCode"] == 200, response
    print(response)
    print(calls.calls)
    assert body_of(response) == created
