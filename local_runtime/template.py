"""What the local runtime and the tests read from template.yaml: tables, functions with their
environment and events, the API's authorizer and gateway responses. One reader, so neither
can drift from what is deployed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, !GetAtt …) as their long form."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    return template


def table_definitions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """`create_table` arguments of every DynamoDB table in the template, by logical id; the
    TTL specification rides along under `_ttl` (it is a separate API call)."""
    template = template or load_template()
    tables = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        definition: dict[str, Any] = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        definition["_ttl"] = props.get("TimeToLiveSpecification")
        tables[logical_id] = definition
    return tables


def create_tables(client: Any, names: dict[str, str], *, existing_ok: bool = False) -> list[str]:
    """Create the template's tables under the given names ({logical id: table name}); returns
    the names created."""
    created = []
    present = set(client.list_tables().get("TableNames", [])) if existing_ok else set()
    for logical_id, definition in table_definitions().items():
        if logical_id not in names or names[logical_id] in present:
            continue
        definition = dict(definition)
        ttl = definition.pop("_ttl")
        client.create_table(TableName=names[logical_id], **definition)
        client.get_waiter("table_exists").wait(TableName=names[logical_id])
        if ttl:
            client.update_time_to_live(
                TableName=names[logical_id],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
            )
        if logical_id == "SessionsTable":
            mark_current_layout(client, names[logical_id])
        created.append(names[logical_id])
    return created


def mark_current_layout(client: Any, table_name: str) -> None:
    """A sessions table this code creates holds nothing of an older layout: its marker says so
    (what migrate-layout writes on an empty table in AWS), so every listing family starts with
    one shard (store/shards.py)."""
    import json

    # store/keys.py's LAYOUT_PK, LAYOUT_SK and TABLE_LAYOUT_VERSION (this module runs before the
    # layer is on the import path; test_layout_migration checks they agree)
    client.put_item(
        TableName=table_name,
        Item={
            "PK": {"S": "LAYOUT"},
            "SK": {"S": "LAYOUT"},
            "kind": {"S": "layout"},
            "version": {"N": "3"},
            "state": {"S": "done"},
            "updated_ms": {"N": "0"},
            "report": {"S": json.dumps({"complete": True})},
        },
    )


BUCKETS = {"AttachmentsBucket": "agent-sessions-local-attachments"}


def bucket_definitions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The template's S3 buckets by logical id: the lifecycle rules and CORS a local S3 is
    given (put_bucket_lifecycle_configuration / put_bucket_cors arguments)."""
    template = template or load_template()
    buckets = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        props = resource.get("Properties") or {}
        rules = []
        for rule in (props.get("LifecycleConfiguration") or {}).get("Rules", []):
            converted: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
            tags = rule.get("TagFilters") or []
            converted["Filter"] = {"Tag": tags[0]} if len(tags) == 1 else {"Prefix": rule.get("Prefix", "")}
            if "ExpirationInDays" in rule:
                converted["Expiration"] = {"Days": rule["ExpirationInDays"]}
            if "AbortIncompleteMultipartUpload" in rule:
                converted["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
            rules.append(converted)
        cors = [
            {
                "AllowedMethods": rule["AllowedMethods"],
                "AllowedOrigins": ["*"],  # the template's parameter; locally any origin
                "AllowedHeaders": rule.get("AllowedHeaders", []),
                "ExposeHeaders": rule.get("ExposedHeaders", []),
                "MaxAgeSeconds": rule.get("MaxAge", 0),
            }
            for rule in (props.get("CorsConfiguration") or {}).get("CorsRules", [])
        ]
        buckets[logical_id] = {"lifecycle": rules, "cors": cors}
    return buckets


def create_buckets(client: Any, names: dict[str, str], *, existing_ok: bool = False) -> list[str]:
    """Create the template's buckets under the given names, with their lifecycle rules and CORS."""
    created = []
    present = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])} if existing_ok else set()
    for logical_id, definition in bucket_definitions().items():
        if logical_id not in names:
            continue
        name = names[logical_id]
        if name not in present:
            client.create_bucket(Bucket=name)
            created.append(name)
        if definition["lifecycle"]:
            client.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": definition["lifecycle"]}
            )
        if definition["cors"]:
            client.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": definition["cors"]})
    return created


def _projection(index: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    projection = index.get("Projection") or {}
    return projection.get("ProjectionType", "ALL"), tuple(sorted(projection.get("NonKeyAttributes") or []))


def reconcile_indexes(client: Any, names: dict[str, str], log: Any = print) -> list[str]:
    """Rebuild the global secondary indexes of existing local tables whose projection differs
    from the template's (a `.local/` table made by an older version): DynamoDB cannot change a
    projection in place, so each is deleted and created again (DynamoDB Local backfills it
    from the table in seconds). Returns the rebuilt index names. For AWS see README, "Upgrading"."""
    rebuilt = []
    for logical_id, definition in table_definitions().items():
        if logical_id not in names or not definition.get("GlobalSecondaryIndexes"):
            continue
        table = names[logical_id]
        live = client.describe_table(TableName=table)["Table"]
        live_indexes = {index["IndexName"]: index for index in live.get("GlobalSecondaryIndexes", [])}
        for wanted in definition["GlobalSecondaryIndexes"]:
            current = live_indexes.get(wanted["IndexName"])
            if current is not None and _projection(current) == _projection(wanted):
                continue
            log(f"rebuilding index {wanted['IndexName']} of {table}: its projection is not the template's")
            if current is not None:
                client.update_table(
                    TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": wanted["IndexName"]}}]
                )
                _wait_for_indexes(client, table)
            client.update_table(
                TableName=table,
                AttributeDefinitions=definition["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": wanted}],
            )
            _wait_for_indexes(client, table)
            rebuilt.append(wanted["IndexName"])
    return rebuilt


def _wait_for_indexes(client: Any, table: str, timeout: float = 120) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = client.describe_table(TableName=table)["Table"]
        statuses = [index.get("IndexStatus") for index in described.get("GlobalSecondaryIndexes", [])]
        if described.get("TableStatus") == "ACTIVE" and all(status == "ACTIVE" for status in statuses):
            return
        time.sleep(0.2)
    raise TimeoutError(f"indexes of {table} did not become ACTIVE")


@dataclass
class ApiRoute:
    method: str
    resource: str
    function: str  # logical id
    authorized: bool


@dataclass
class AuthorizerConfig:
    function: str
    identity_headers: list[str]
    cache_seconds: int


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [event.get("Properties", {}) for event in self.events.values() if event.get("Type") == kind]


@dataclass
class Stack:
    """The template, resolved for a local run: parameters at their defaults (or overrides),
    tables under local names, secrets from `secrets`."""

    template: dict[str, Any]
    table_names: dict[str, str]
    parameters: dict[str, str]
    secrets: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[ApiRoute] = field(default_factory=list)
    authorizer: AuthorizerConfig | None = None
    gateway_responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage: str = "dev"
    bucket_names: dict[str, str] = field(default_factory=lambda: dict(BUCKETS))

    def resolve(self, value: Any) -> Any:
        """Intrinsic functions, as far as a local run needs them."""
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument
                if logical_id in self.table_names:
                    table = self.table_names[logical_id]
                    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"
                if logical_id in self.bucket_names:
                    return f"arn:aws:s3:::{self.bucket_names[logical_id]}"
                return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}/{attribute}"
            if name == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]
                text = re.sub(r"\$\{([A-Za-z0-9:.]+)\}", lambda m: str(self._sub_variable(m.group(1))), text)
                return self._dynamic_reference(text)
        if isinstance(value, str):
            return self._dynamic_reference(value)
        return value

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.table_names:
            return self.table_names[name]
        if name in self.bucket_names:
            return self.bucket_names[name]
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": "agent-sessions-local"}
        return pseudo.get(name, name)

    def _sub_variable(self, name: str) -> Any:
        if "." in name:
            return self.resolve({"Fn::GetAtt": name.split(".", 1)})
        return self._ref(name)

    def _dynamic_reference(self, text: str) -> str:
        """`{{resolve:secretsmanager:<secret>:SecretString}}` → the local secret of that name."""
        match = re.fullmatch(r"\{\{resolve:secretsmanager:([^:}]+)(?::SecretString)?\}\}", text)
        if match:
            return self.secrets.setdefault(match.group(1), "local-secret-" + match.group(1))
        return text


def _function_of(arn: Any) -> str:
    """The logical id behind an authorizer's FunctionArn: `!GetAtt Fn.Arn`, `!Ref Fn.Alias`
    (the published alias SnapStart needs) or a plain name."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        target = arn["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
    if isinstance(arn, dict) and "Ref" in arn:
        return str(arn["Ref"]).split(".")[0]
    return str(arn)


def read_stack(
    *,
    table_names: dict[str, str],
    secrets: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
    bucket_names: dict[str, str] | None = None,
) -> Stack:
    template = template or load_template()
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    values.update(parameters or {})
    stack = Stack(template, dict(table_names), values, dict(secrets or {}), stage=values.get("Stage", "dev"))
    stack.bucket_names = dict(bucket_names or BUCKETS)
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    global_env = ((globals_function.get("Environment") or {}).get("Variables")) or {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        env_values = {**global_env, **(((props.get("Environment") or {}).get("Variables")) or {})}
        stack.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props.get("Handler", globals_function.get("Handler", "app.lambda_handler")),
            environment={name: str(stack.resolve(value)) for name, value in env_values.items()},
            timeout=int(props.get("Timeout", globals_function.get("Timeout", 3))),
            memory=int(props.get("MemorySize", globals_function.get("MemorySize", 128))),
            events=props.get("Events") or {},
        )
        for event in stack.functions[logical_id].events_of("Api"):
            auth = (event.get("Auth") or {}).get("Authorizer")
            stack.routes.append(
                ApiRoute(
                    method=event["Method"].upper(),
                    resource=event["Path"],
                    function=logical_id,
                    authorized=auth != "NONE",
                )
            )
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Api":
            continue
        props = resource["Properties"]
        stack.gateway_responses = props.get("GatewayResponses") or {}
        auth = props.get("Auth") or {}
        default = auth.get("DefaultAuthorizer")
        if default:
            config = auth["Authorizers"][default]
            function_arn = config["FunctionArn"]
            function = _function_of(function_arn)
            identity = config.get("Identity") or {}
            stack.authorizer = AuthorizerConfig(
                function=function,
                identity_headers=list(identity.get("Headers") or []),
                cache_seconds=int(stack.resolve(identity.get("ReauthorizeEvery", 300))),
            )
        else:
            for route in stack.routes:
                route.authorized = False
    return stack
