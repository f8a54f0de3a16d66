"""The template holds what the contract names: functions, routes, table, least privilege."""

from __future__ import annotations

from support import FUNCTIONS, load_template

ROUTES = {
    "CreateSessionFunction": ("create_session", {("/v1/agents/sessions", "post")}),
    "GetSessionFunction": ("get_session", {("/v1/agents/sessions/{session_id}", "get")}),
    "ListSessionsFunction": ("list_sessions", {("/v1/agents/sessions/list", "post"), ("/v1/agents/sessions", "get")}),
    "UpdateSessionFunction": ("update_session", {("/v1/agents/sessions/{session_id}", "patch")}),
    "PutSessionFunction": ("put_session", {("/v1/agents/sessions/{session_id}", "put")}),
    "TerminateSessionFunction": ("terminate_session", {("/v1/agents/sessions/{session_id}", "delete")}),
    "AppendMessagesFunction": ("append_messages", {("/v1/agents/sessions/{session_id}/messages", "post")}),
    "GetHistoryFunction": ("get_history", {("/v1/agents/sessions/{session_id}/history", "get")}),
}


def test_functions_and_routes():
    template = load_template()
    resources = template["Resources"]
    for logical_id, (folder, routes) in ROUTES.items():
        props = resources[logical_id]["Properties"]
        assert props["CodeUri"] == f"functions/{folder}/"
        assert props["Handler"] == "app.lambda_handler"
        assert (FUNCTIONS / folder / "app.py").exists()
        declared = {(e["Properties"]["Path"], e["Properties"]["Method"]) for e in props["Events"].values()}
        assert declared == routes
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.13"
    assert globals_["Architectures"] == ["arm64"]


def test_layer_is_built_by_sam_for_python_3_13():
    layer = load_template()["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/shared/"


def test_table_has_the_contract_layout():
    table = load_template()["Resources"]["SessionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["PK", "SK"]
    gsi1 = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "GSI1")
    assert [k["AttributeName"] for k in gsi1["KeySchema"]] == ["GSI1PK", "GSI1SK"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_indexes_project_nothing_an_append_changes():
    """An append updates the head's counters, status, version and activity: no index may
    project those, or every append would rewrite an index entry (DESIGN §4, scale)."""
    table = load_template()["Resources"]["SessionsTable"]["Properties"]
    projections = {index["IndexName"]: index["Projection"] for index in table["GlobalSecondaryIndexes"]}
    for name in ("GSI1", "GSI2", "GSI3"):
        assert projections[name] == {"ProjectionType": "KEYS_ONLY"}
    assert projections["DueIndex"]["ProjectionType"] == "INCLUDE"
    appended = {"status", "version", "last_activity_ms", "message_count", "updated_ms", "total_tokens"}
    assert not appended & set(projections["DueIndex"]["NonKeyAttributes"])


def test_each_function_gets_only_the_dynamodb_actions_it_uses():
    resources = load_template()["Resources"]
    expected = {
        "GetSessionFunction": {"dynamodb:Query"},  # head and body: one Query of the session's partition
        "CreateSessionFunction": {
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
        },
        "ListSessionsFunction": {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"},
    }
    for logical_id, actions in expected.items():
        statements = resources[logical_id]["Properties"]["Policies"][0]["Statement"]
        granted = {action for statement in statements for action in statement["Action"]}
        assert granted == actions
        assert all("*" not in action for action in granted)


def _policy_resources(resource: dict) -> list[str]:
    return [
        str(statement["Resource"])
        for policy in resource["Properties"].get("Policies", [])
        for statement in policy["Statement"]
    ]


def test_only_the_authorizer_reads_the_identities_table():
    resources = load_template()["Resources"]
    readers = {
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any("IdentitiesTable" in text for text in _policy_resources(resource))
    }
    assert readers == {"AuthorizerFunction"}
    statements = resources["AuthorizerFunction"]["Properties"]["Policies"][0]["Statement"]
    assert [statement["Action"] for statement in statements] == [["dynamodb:GetItem"]]


def test_every_route_is_behind_the_authorizer_with_both_identity_sources():
    api = load_template()["Resources"]["SessionsApi"]["Properties"]
    authorizer = api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    assert authorizer["FunctionPayloadType"] == "REQUEST"
    assert authorizer["Identity"]["Headers"] == ["Authorization", "X-Namespace"]
    public = set()
    for function in load_template()["Resources"].values():
        for event in (function.get("Properties") or {}).get("Events", {}).values():
            if event["Type"] == "Api" and "Auth" in event["Properties"]:
                assert event["Properties"]["Auth"] == {"Authorizer": "NONE"}
                public.add(event["Properties"]["Path"])
    # the only routes without a key: the health check, the document, the console's static page
    assert public == {"/v1/health", "/v1/openapi.json", "/console", "/console/{proxy+}"}


def test_route_scopes_cover_exactly_the_templates_routes():
    from agent_sessions.scopes import ROUTE_SCOPES

    declared = {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for resource in load_template()["Resources"].values()
        for event in (resource.get("Properties") or {}).get("Events", {}).values()
        if event["Type"] == "Api" and "Auth" not in event["Properties"]
    }
    assert {(route.method, route.resource) for route in ROUTE_SCOPES} == declared


def test_gateway_responses_use_the_error_envelope():
    import json

    responses = load_template()["Resources"]["SessionsApi"]["Properties"]["GatewayResponses"]
    for response_type in (
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "THROTTLED",
        "REQUEST_TOO_LARGE",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    ):
        template = responses[response_type]["ResponseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", '"message"').replace("$context.", "")
        envelope = json.loads(rendered)
        assert envelope["success"] is False
        assert set(envelope["error"]) == {"type", "message", "code", "details"}
        if "StatusCode" in responses[response_type]:
            assert envelope["status"] == responses[response_type]["StatusCode"]


def test_the_admin_policy_allows_the_authorizer_cache_flush_and_the_identity_writes():
    policy = load_template()["Resources"]["KeyAdminPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {statement["Sid"]: statement for statement in policy}
    flush = by_sid["FlushAuthorizerCache"]
    assert flush["Action"] == "apigateway:DELETE"
    assert flush["Resource"]["Fn::Sub"].endswith("::/restapis/${SessionsApi}/stages/${Stage}/cache/authorizers")
    # every DynamoDB call the identity store makes (transactions need their items' actions)
    assert set(by_sid["Identities"]["Action"]) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
    }
    outputs = load_template()["Outputs"]
    assert outputs["KeyAdminPolicyArn"]["Value"] == {"Ref": "KeyAdminPolicy"}
