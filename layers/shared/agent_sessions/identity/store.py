"""The identities table: organizations, namespaces (ids and unique names) and API keys.

| item | PK | SK |
|---|---|---|
| organization | `ORG#<internal_id>` | `ORG` |
| namespace | `ORG#<internal_id>` | `NS#<namespace_id>` |
| namespace name (uniqueness) | `ORG#<internal_id>` | `NSNAME#<name>` |
| key, by digest (the authorizer's read) | `KEY#<sha256>` | `KEY` |
| key, by id (listing, revoking) | `ORG#<internal_id>` | `KEY#<key_id>` |

A namespace lives under its organization, so a key can only ever reach its own
organization's namespaces. Two-item records are written in one transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.errors import ConflictError, NotFoundError, ValidationError
from agent_sessions.identity.api_keys import SCOPES, display_prefix, is_api_key, key_digest, new_api_key
from agent_sessions.identity.models import ApiKey, IssuedKey, Namespace, Organization
from agent_sessions.ids import NAMESPACE_ID_PATTERN, new_key_id, new_namespace_id, new_organization_id
from agent_sessions.settings import Settings
from agent_sessions.store.codec import Item, from_item, to_item
from agent_sessions.store.dynamo import cancellation_reasons, error_code, store_errors
from agent_sessions.store.table import TableStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

NEW_ITEM = "attribute_not_exists(PK)"


def org_pk(internal_id: str) -> str:
    return f"ORG#{internal_id}"


def key_pk(digest: str) -> str:
    return f"KEY#{digest}"


class IdentityStore(TableStore):
    def __init__(self, settings: Settings, client: DynamoDBClient | None = None) -> None:
        super().__init__(settings, client)
        self.table = settings.identities_table_name

    # --- the authorizer's reads -------------------------------------------------------------

    def key_by_secret(self, key: str) -> ApiKey | None:
        """1 GetItem by the key's digest (strongly consistent, so a revocation is seen at once
        by every authorization that is not served from API Gateway's cache)."""
        item = self.get_raw(key_pk(key_digest(key)), "KEY")
        return ApiKey.from_item(item) if item else None

    def namespace(self, internal_id: str, reference: str) -> Namespace | None:
        """1 GetItem: a namespace of this organization, by id (`ns_…`) or by name."""
        if NAMESPACE_ID_PATTERN.match(reference):
            item = self.get_raw(org_pk(internal_id), f"NS#{reference}")
            return Namespace.from_item(item) if item else None
        if not Namespace.is_valid_name(reference):
            return None
        item = self.get_raw(org_pk(internal_id), f"NSNAME#{reference}")
        if not item:
            return None
        values = from_item(item)
        return Namespace(
            namespace_id=values["namespace_id"],
            internal_id=internal_id,
            name=reference,
            created_at=values["created_at"],
        )

    # --- the admin command's writes ---------------------------------------------------------

    def create_organization(self, name: str, internal_id: str | None = None) -> Organization:
        organization = Organization(
            internal_id=internal_id or new_organization_id(), name=name, created_at=clock.to_iso(clock.now_ms())
        )
        try:
            with store_errors():
                self.client.put_item(
                    TableName=self.table,
                    Item=organization.to_item(),
                    ConditionExpression="attribute_not_exists(PK)",
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise ConflictError(f"Organization {organization.internal_id} exists", code="exists") from error
            raise
        return organization

    def organization(self, internal_id: str) -> Organization | None:
        item = self.get_raw(org_pk(internal_id), "ORG")
        return Organization.from_item(item) if item else None

    def require_organization(self, internal_id: str) -> Organization:
        organization = self.organization(internal_id)
        if organization is None:
            raise NotFoundError(f"Organization {internal_id} not found", code="organization_not_found")
        return organization

    def create_namespace(self, internal_id: str, name: str, namespace_id: str | None = None) -> Namespace:
        if not Namespace.is_valid_name(name):
            raise ValidationError(f"Invalid namespace name {name!r}: {Namespace.NAME_RULE}", code="invalid_name")
        namespace = Namespace(
            namespace_id=namespace_id or new_namespace_id(),
            internal_id=internal_id,
            name=name,
            created_at=clock.to_iso(clock.now_ms()),
        )
        name_item = to_item(
            {
                "PK": org_pk(internal_id),
                "SK": f"NSNAME#{name}",
                "kind": "namespace_name",
                "namespace_id": namespace.namespace_id,
                "created_at": namespace.created_at,
            }
        )
        actions: list[Any] = [
            {
                "ConditionCheck": {
                    "TableName": self.table,
                    "Key": {"PK": {"S": org_pk(internal_id)}, "SK": {"S": "ORG"}},
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": namespace.to_item(),
                    "ConditionExpression": NEW_ITEM,
                }
            },
            {"Put": {"TableName": self.table, "Item": name_item, "ConditionExpression": NEW_ITEM}},
        ]
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            codes = [reason.get("Code") for reason in cancellation_reasons(error)]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise NotFoundError(f"Organization {internal_id} not found", code="organization_not_found") from error
            if "ConditionalCheckFailed" in codes:
                raise ConflictError(f"Namespace {name!r} exists in {internal_id}", code="exists") from error
            raise
        return namespace

    def list_namespaces(self, internal_id: str) -> list[Namespace]:
        return [Namespace.from_item(item) for item in self._query_org(internal_id, "NS#")]

    def create_key(
        self,
        internal_id: str,
        *,
        namespaces: list[str] | None,
        scopes: list[str],
        name: str = "",
        secret: str | None = None,
    ) -> IssuedKey:
        """Issue a key; the secret is returned here and never again. `namespaces` are ids or
        names of this organization's namespaces; None means every namespace, present and future.
        `secret` lets a development setup choose its key (it must be well-formed)."""
        unknown_scopes = sorted(set(scopes) - set(SCOPES))
        if not scopes or unknown_scopes:
            raise ValidationError(f"Scopes must be among {', '.join(SCOPES)}", code="invalid_scope")
        if secret is not None and not is_api_key(secret):
            raise ValidationError("A key is sk_ followed by at least 43 url-safe characters", code="invalid_key")
        self.require_organization(internal_id)
        namespace_ids: list[str] | None = None
        if namespaces is not None:
            namespace_ids = []
            for reference in namespaces:
                found = self.namespace(internal_id, reference)
                if found is None:
                    raise NotFoundError(
                        f"Namespace {reference!r} not found in {internal_id}", code="namespace_not_found"
                    )
                namespace_ids.append(found.namespace_id)
        key = secret or new_api_key()
        record = ApiKey(
            key_id=new_key_id(),
            internal_id=internal_id,
            digest=key_digest(key),
            prefix=display_prefix(key),
            name=name,
            namespaces=sorted(set(namespace_ids)) if namespace_ids is not None else None,
            scopes=sorted(set(scopes)),
            created_at=clock.to_iso(clock.now_ms()),
        )
        actions: list[Any] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": record.to_item(key_pk(record.digest), "KEY"),
                    "ConditionExpression": NEW_ITEM,
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": record.to_item(org_pk(internal_id), f"KEY#{record.key_id}"),
                    "ConditionExpression": NEW_ITEM,
                }
            },
        ]
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if "ConditionalCheckFailed" in [reason.get("Code") for reason in cancellation_reasons(error)]:
                raise ConflictError("That key is already issued", code="exists") from error
            raise
        return IssuedKey(key=key, record=record)

    def list_keys(self, internal_id: str) -> list[ApiKey]:
        return [ApiKey.from_item(item) for item in self._query_org(internal_id, "KEY#")]

    def revoke_key(self, internal_id: str, key_id: str) -> ApiKey:
        """Mark both items revoked in one transaction; revoking twice keeps the first time."""
        item = self.get_raw(org_pk(internal_id), f"KEY#{key_id}")
        if not item:
            raise NotFoundError(f"Key {key_id} not found in {internal_id}", code="key_not_found")
        record = ApiKey.from_item(item)
        if record.revoked_at:
            return record
        revoked_at = clock.to_iso(clock.now_ms())
        update: dict[str, Any] = {
            "UpdateExpression": "SET revoked_at = if_not_exists(revoked_at, :now)",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": {":now": {"S": revoked_at}},
        }
        actions: list[Any] = [
            {"Update": {"TableName": self.table, "Key": _key(key_pk(record.digest), "KEY"), **update}},
            {"Update": {"TableName": self.table, "Key": _key(org_pk(internal_id), f"KEY#{key_id}"), **update}},
        ]
        with store_errors():
            self.client.transact_write_items(TransactItems=actions)
        return record.model_copy(update={"revoked_at": revoked_at})

    def _query_org(self, internal_id: str, prefix: str) -> list[Item]:
        items: list[Item] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": org_pk(internal_id)}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            with store_errors():
                page = self.client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(pk: str, sk: str) -> Item:
    return {"PK": {"S": pk}, "SK": {"S": sk}}
