"""What requests and responses share: the strict base of every request model, the status and
sort vocabularies, times as RFC 3339, cross-field rules and quotas. A module of its own so that
the responses (and the functions that only read) do not build every request model of the API."""

# No `from __future__ import annotations` in the model modules: pydantic would then read
# every field's annotation back from text (a compile and an eval per field) at import.

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

SessionStatus = Literal["active", "idle", "archived", "terminated"]
SettableStatus = Literal["active", "archived"]
SortField = Literal["created_at", "last_activity_at"]
SortDirection = Literal["asc", "desc"]


def _takes_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(_takes_int(argument) for argument in get_args(annotation))


class StrictModel(BaseModel):
    # strict: a JSON body's types are what the document says (`0` is not false, `"5"` not 5)...
    # defer_build: a function builds the validators of the models it uses, on first use, not
    # those of every request model of the API at import (a cold start's worth of them).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=True, defer_build=True)
    _int_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._int_fields = frozenset(name for name, field in cls.model_fields.items() if _takes_int(field.annotation))

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        # ...and JSON Schema's integer includes 5.0 (a number with no fraction), which strict
        # mode alone would refuse.
        if isinstance(data, dict) and cls._int_fields:
            whole = {
                name: int(value)
                for name in cls._int_fields & data.keys()
                if isinstance(value := data[name], float) and value.is_integer()
            }
            if whole:
                return data | whole
        return data


RFC_3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc_3339(value: Any) -> Any:
    # What the document's `format: date-time` says, and no more: lax parsing would also take
    # numbers (as Unix times) and dates without a time or an offset.
    if not isinstance(value, str) or not RFC_3339.match(value):
        raise PydanticCustomError(
            "datetime_format", "Input should be an RFC 3339 date-time with an offset, like 2030-01-31T12:00:00Z"
        )
    return value


# A time arrives as RFC 3339 text, which strict mode would refuse for a datetime.
Instant = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_rfc_3339)]


# Rules across fields, stated in the OpenAPI document as JSON Schema so that a client (or a
# generator of requests) knows them; the request models' validators enforce the same rules.
def present(field: str, json_type: str) -> dict[str, Any]:
    """The field is present and not null."""
    return {"required": [field], "properties": {field: {"type": json_type}}}


def cross_field_rules(*rules: dict[str, Any]) -> Any:
    def extend(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).extend(rules)

    return extend


NOT_BOTH_EXPIRIES = {"not": {"allOf": [present("ttl_seconds", "integer"), present("expires_at", "string")]}}


# Quotas are stored as DynamoDB numbers (38 digits at most) and added to: bounded well inside.
MAX_QUOTA = 10**15


class Quotas(StrictModel):
    max_messages: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    max_tokens_total: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    max_tool_calls: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    max_session_duration_minutes: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
    rate_limit_messages_per_minute: int | None = Field(default=None, ge=1, le=MAX_QUOTA)
