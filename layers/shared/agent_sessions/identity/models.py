"""Identity records as stored and as the admin command shows them."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from agent_sessions.store.codec import Item, from_item, to_item


class Organization(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    internal_id: str
    name: str
    created_at: str

    def to_item(self) -> Item:
        return to_item({"PK": f"ORG#{self.internal_id}", "SK": "ORG", "kind": "organization", **self.model_dump()})

    @classmethod
    def from_item(cls, item: Item) -> Organization:
        return cls.model_validate(from_item(item))


class Namespace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    NAME_PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"^(?!ns_)[a-z0-9][a-z0-9._-]{0,62}$")
    NAME_RULE: ClassVar[str] = "1 to 63 of a-z 0-9 . _ -, starting with a letter or digit, not with ns_"

    namespace_id: str
    internal_id: str
    name: str
    created_at: str

    @classmethod
    def is_valid_name(cls, name: str) -> bool:
        return bool(cls.NAME_PATTERN.match(name))

    def to_item(self) -> Item:
        return to_item(
            {"PK": f"ORG#{self.internal_id}", "SK": f"NS#{self.namespace_id}", "kind": "namespace", **self.model_dump()}
        )

    @classmethod
    def from_item(cls, item: Item) -> Namespace:
        return cls.model_validate(from_item(item))


class ApiKey(BaseModel):
    """A key's record: its digest, never the key itself."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    key_id: str
    internal_id: str
    digest: str
    prefix: str
    name: str = ""
    namespaces: list[str] | None  # None: every namespace of the organization
    scopes: list[str]
    created_at: str
    revoked_at: str | None = None

    def allows_namespace(self, namespace_id: str) -> bool:
        return self.namespaces is None or namespace_id in self.namespaces

    def to_item(self, pk: str, sk: str) -> Item:
        values = self.model_dump(exclude={"namespaces", "scopes"})
        return to_item(
            {
                "PK": pk,
                "SK": sk,
                "kind": "api_key",
                **values,
                "namespaces": "*" if self.namespaces is None else " ".join(self.namespaces),
                "scopes": " ".join(self.scopes),
            }
        )

    @classmethod
    def from_item(cls, item: Item) -> ApiKey:
        values = from_item(item)
        namespaces = values.pop("namespaces", "")
        values["namespaces"] = None if namespaces == "*" else [n for n in str(namespaces).split() if n]
        values["scopes"] = [s for s in str(values.pop("scopes", "")).split() if s]
        return cls.model_validate(values)


class IssuedKey(BaseModel):
    """A freshly issued key: the only moment the secret exists outside its holder."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: str
    record: ApiKey
