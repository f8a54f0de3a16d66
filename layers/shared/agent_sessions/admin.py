"""The admin command: organizations, namespaces and API keys in the identities table.

    python -m agent_sessions.admin create-org --name acme
    python -m agent_sessions.admin create-namespace --org int_… --name production
    python -m agent_sessions.admin create-key --org int_… --namespace production --scope sessions:read
    python -m agent_sessions.admin list-keys --org int_…
    python -m agent_sessions.admin revoke-key --org int_… --key-id key_… [--api-id … --stage …]
    python -m agent_sessions.admin migrate-layout [--status]
    python -m agent_sessions.admin set-shards --namespace ns_… --count 16 [--user U | --agent A | --metadata K=V]

The table is `--table`, else IDENTITIES_TABLE_NAME (the stack's IdentitiesTableName output);
migrate-layout and set-shards work on the sessions table, `--sessions-table`, else TABLE_NAME.
It talks to AWS with the usual credentials, or to any DynamoDB endpoint named by
AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local, moto). A new key is printed once and never stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from agent_sessions.errors import AppError
from agent_sessions.identity.api_keys import READ_SCOPE, SCOPES, WRITE_SCOPE
from agent_sessions.identity.store import IdentityStore
from agent_sessions.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m agent_sessions.admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", help="identities table (default: $IDENTITIES_TABLE_NAME)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True)

    org = commands.add_parser("create-org", help="create an organization")
    org.add_argument("--name", required=True)

    namespace = commands.add_parser("create-namespace", help="create a namespace (unique name per organization)")
    namespace.add_argument("--org", required=True, help="organization id (int_…)")
    namespace.add_argument("--name", required=True)

    namespaces = commands.add_parser("list-namespaces", help="list an organization's namespaces")
    namespaces.add_argument("--org", required=True)

    key = commands.add_parser("create-key", help="issue an API key (printed once)")
    key.add_argument("--org", required=True)
    key.add_argument(
        "--namespace",
        action="append",
        help="namespace id or name the key may use (repeat; default: every namespace)",
    )
    key.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        help=f"repeat; default: {READ_SCOPE} and {WRITE_SCOPE}",
    )
    key.add_argument("--name", default="", help="a label to recognise the key by")

    keys = commands.add_parser("list-keys", help="list an organization's keys (prefixes only)")
    keys.add_argument("--org", required=True)

    revoke = commands.add_parser(
        "revoke-key", help="revoke a key, then flush API Gateway's authorizer cache so it stops working at once"
    )
    revoke.add_argument("--org", required=True)
    revoke.add_argument("--key-id", required=True)
    revoke.add_argument("--api-id", help="the stack's ApiId output (default: $AGENT_SESSIONS_API_ID)")
    revoke.add_argument("--stage", help="the stack's ApiStage output (default: $AGENT_SESSIONS_API_STAGE)")

    migrate = commands.add_parser(
        "migrate-layout",
        help="move a sessions table written by an older version to this version's key layout "
        "(idempotent, resumable; the service keeps running)",
    )
    migrate.add_argument("--sessions-table", help="sessions table (default: $TABLE_NAME)")
    migrate.add_argument("--status", action="store_true", help="only report the table's layout and progress")

    shards = commands.add_parser(
        "set-shards",
        help="raise the shard count of a namespace's listings, or of one user's, agent's or metadata pair's "
        "(counts only grow; the store also doubles them when DynamoDB throttles a write on them)",
    )
    shards.add_argument("--sessions-table", help="sessions table (default: $TABLE_NAME)")
    shards.add_argument("--namespace", required=True, help="namespace id (ns_…), or its name with --org")
    shards.add_argument("--org", help="organization id (int_…), to find the namespace by name")
    shards.add_argument(
        "--count", type=int, required=True, help="1, 2, 4, 8, 16 or 32; --count 0 only reports the count"
    )
    family = shards.add_mutually_exclusive_group()
    family.add_argument("--user", help="one user_id's listings and activity")
    family.add_argument("--agent", help="one agent_id's listings")
    family.add_argument("--metadata", help="one metadata pair's listings, KEY=VALUE")
    return parser


def set_shards(args: argparse.Namespace, identities: IdentityStore | None = None) -> dict[str, Any]:
    from agent_sessions.ids import NAMESPACE_ID_PATTERN
    from agent_sessions.store import keys
    from agent_sessions.store.sessions import SessionStore
    from agent_sessions.store.shards import ShardCountStore

    settings = Settings.from_environ()
    if args.sessions_table:
        settings = settings.model_copy(update={"table_name": args.sessions_table})
    namespace_id = args.namespace
    if not NAMESPACE_ID_PATTERN.match(namespace_id):
        if not args.org:
            raise AppError(f"{namespace_id!r} is not a namespace id (ns_…); give --org to find it by name")
        found = (identities or IdentityStore(settings)).namespace(args.org, namespace_id)
        if found is None:
            raise AppError(f"Namespace {namespace_id!r} not found in {args.org}")
        namespace_id = found.namespace_id
    if args.user is not None:
        family, partition = f"user_id={args.user}", keys.lookup_partition(namespace_id, "user_id", args.user)
    elif args.agent is not None:
        family, partition = f"agent_id={args.agent}", keys.lookup_partition(namespace_id, "agent_id", args.agent)
    elif args.metadata is not None:
        name, separator, value = args.metadata.partition("=")
        if not separator or not name:
            raise AppError("--metadata takes KEY=VALUE")
        family, partition = f"metadata {name}={value}", keys.lookup_partition(namespace_id, "metadata", value, name)
    else:
        family, partition = "namespace", keys.namespace_partition(namespace_id)
    store = ShardCountStore(SessionStore(settings))
    if args.count == 0:
        count = store.read([partition])[partition]
        return {"namespace_id": namespace_id, "family": family, "shards": count, "changed": False}
    before = store.read([partition])[partition]
    try:
        after = store.set_count(partition, args.count)
    except ValueError as error:
        raise AppError(str(error)) from error
    return {"namespace_id": namespace_id, "family": family, "shards": after, "changed": after != before}


def migrate_layout(args: argparse.Namespace, log: Any = None) -> dict[str, Any]:
    from agent_sessions.store.layout import LayoutStore
    from agent_sessions.store.sessions import SessionStore

    settings = Settings.from_environ()
    if args.sessions_table:
        settings = settings.model_copy(update={"table_name": args.sessions_table})
    layout = LayoutStore(SessionStore(settings))
    if args.status:
        state = layout.state()
        return {"table": settings.table_name, "layout": state.version, "state": state.state, "last_run": state.report}
    needed = layout.needs_migration()
    report = layout.migrate(log=log or (lambda line: print(line, file=sys.stderr))) if needed else None
    state = layout.state()
    return {
        "table": settings.table_name,
        "layout": state.version,
        "state": state.state,
        "migrated_now": needed,
        "report": report.as_dict() if report else state.report,
    }


def run(argv: Sequence[str], store: IdentityStore | None = None) -> dict[str, Any]:
    """Execute one command; returns what it prints (as data)."""
    args = _parser().parse_args(argv)
    if args.command == "migrate-layout":
        return migrate_layout(args)
    if args.command == "set-shards":
        return set_shards(args, store)
    if store is None:
        settings = Settings.from_environ()
        if args.table:
            settings = settings.model_copy(update={"identities_table_name": args.table})
        store = IdentityStore(settings)
    match args.command:
        case "create-org":
            return store.create_organization(args.name).model_dump()
        case "create-namespace":
            return store.create_namespace(args.org, args.name).model_dump()
        case "list-namespaces":
            return {"namespaces": [n.model_dump() for n in store.list_namespaces(args.org)]}
        case "create-key":
            issued = store.create_key(
                args.org, namespaces=args.namespace, scopes=args.scope or list(SCOPES), name=args.name
            )
            return {"key": issued.key, **_shown(issued.record.model_dump())}
        case "list-keys":
            return {"keys": [_shown(k.model_dump()) for k in store.list_keys(args.org)]}
        case "revoke-key":
            revoked = _shown(store.revoke_key(args.org, args.key_id).model_dump())
            return {**revoked, "authorizer_cache": flush_authorizer_cache(args.api_id, args.stage)}
    raise AssertionError(args.command)  # argparse refuses unknown commands


def flush_authorizer_cache(api_id: str | None, stage: str | None) -> str:
    """API Gateway caches each (Authorization, X-Namespace) decision for AuthorizerCacheSeconds;
    a revocation flushes the stage's cache (FlushStageAuthorizersCache) so the revoked key's
    next request is authorized afresh, and refused. The cost: every identity's next request
    re-runs the authorizer once (a Lambda invocation and 2 GetItems each), a burst as large as
    the number of keys and namespaces in use. `make run` serves the same call (its .local/env
    names it), so the local cache is flushed the same way."""
    api_id = api_id or os.environ.get("AGENT_SESSIONS_API_ID")
    stage = stage or os.environ.get("AGENT_SESSIONS_API_STAGE")
    if not api_id or not stage:
        return (
            "not flushed: give --api-id and --stage (the stack's ApiId and ApiStage outputs) or set "
            "AGENT_SESSIONS_API_ID and AGENT_SESSIONS_API_STAGE; until then a cached allow may be served "
            "for up to AuthorizerCacheSeconds"
        )
    import boto3  # only this command needs API Gateway's client (AWS_ENDPOINT_URL_API_GATEWAY honoured)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("apigateway").flush_stage_authorizers_cache(restApiId=api_id, stageName=stage)
    except (BotoCoreError, ClientError) as error:
        raise AppError(
            f"the key is revoked, but the authorizer cache of API {api_id} stage {stage} was not flushed: "
            f"{error}; a cached allow may be served for up to AuthorizerCacheSeconds"
        ) from error
    return f"flushed (API {api_id}, stage {stage})"


def _shown(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("digest", None)
    return record


def _text(result: dict[str, Any]) -> str:
    lines = []
    if "key" in result:
        lines.append(f"API key (shown once; store it now): {result['key']}")
        lines.append("")
    for name, value in result.items():
        if name == "key":
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for row in value:
                lines.append("  ".join(f"{k}={_plain(v)}" for k, v in row.items()))
        else:
            lines.append(f"{name}: {_plain(value)}")
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        result = run(args)
    except AppError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if _parser().parse_args(args).json else _text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
