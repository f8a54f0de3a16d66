"""The limits of the contract (DESIGN §1) and the field types that enforce them.

Sizes of free text and free-form objects are refused with 413 (error type `too_large`);
shape rules (lengths of ids and keys, metadata pairs) with 422.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, AllowInfNan, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

KIB = 1024
MAX_ID_CHARS = 256
MAX_SESSION_NAME_CHARS = 256
GENERATED_NAME_CHARS = 80
MAX_TEXT_BYTES = 64 * KIB  # situation, summary
MAX_AGENT_CONFIG_BYTES = 32 * KIB
MAX_USER_MEMORY_BYTES = 64 * KIB
MAX_METADATA_PAIRS = 32
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_TTL_SECONDS_INPUT = 10 * 365 * 86400
MAX_LIST_LIMIT = 200
DEFAULT_LIST_LIMIT = 50


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON: the stored form of free-form objects and of request hashes."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _too_large(what: str, size: int, limit: int) -> PydanticCustomError:
    return PydanticCustomError(
        "too_large",
        "{what} is {size} bytes; the limit is {limit} bytes",
        {"what": what, "size": size, "limit": limit},
    )


def text_within(limit: int, what: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and (size := len(value.encode("utf-8", "surrogatepass"))) > limit:
            raise _too_large(what, size, limit)
        return value

    return AfterValidator(check)


# DynamoDB's own limit for nested attributes, so a free-form object could also be stored as a
# native map. Deeper is refused with 422 naming the field (it used to reach the idempotency
# hash and fail there as a 500).
MAX_NESTING = 32


def nesting_depth(value: Any) -> int:
    """Levels of objects and arrays: a scalar 0, `{}` 1, `{"a": {}}` 2. Iterative, so any depth
    is measured without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:  # past the limit the answer is known; stop walking
            stack.extend((child, depth + 1) for child in children)
    return deepest


def nested_within(what: str) -> AfterValidator:
    def check(value: Any) -> Any:
        if value is not None and (depth := nesting_depth(value)) > MAX_NESTING:
            raise PydanticCustomError(
                "too_deep",
                "{what} nests more than {limit} levels of objects and arrays (found {depth})",
                {"what": what, "limit": MAX_NESTING, "depth": depth},
            )
        return value

    return AfterValidator(check)


def object_within(limit: int, what: str) -> AfterValidator:
    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and (size := len(canonical_json(value).encode("utf-8", "surrogatepass"))) > limit:
            raise _too_large(what, size, limit)
        return value

    return AfterValidator(check)


def metadata_text(value: str | int | float | bool) -> str:
    """The text a metadata value is matched by: `"1"` and `1` match each other, so a
    `metadata.KEY=VALUE` query parameter finds numbers and booleans too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > MAX_METADATA_PAIRS:
        raise PydanticCustomError(
            "too_many_pairs", "metadata holds at most {limit} pairs", {"limit": MAX_METADATA_PAIRS}
        )
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_CHARS:
            raise PydanticCustomError(
                "key_length",
                "metadata key {key} must be 1 to {limit} characters",
                {"key": repr(key[:80]), "limit": MAX_METADATA_KEY_CHARS},
            )
        if any(ord(character) < 0x20 or character == "\x7f" for character in key):
            raise PydanticCustomError(
                "key_characters", "metadata key {key} holds a control character", {"key": repr(key[:80])}
            )
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_METADATA_INTEGER:
            raise PydanticCustomError(
                "value_range",
                "metadata value of {key} is outside -2^53 to 2^53",
                {"key": repr(key[:80])},
            )
        if item is not None and len(metadata_text(item)) > MAX_METADATA_VALUE_CHARS:
            raise PydanticCustomError(
                "value_length",
                "metadata value of {key} is over {limit} characters",
                {"key": repr(key[:80]), "limit": MAX_METADATA_VALUE_CHARS},
            )
    return value


# Integers a JSON client in any language reads exactly (JavaScript's safe range); the bound is
# also exact as the document's JSON number.
MAX_METADATA_INTEGER = 2**53
# The bounds are stated in the document here and enforced by _check_metadata, whose refusals
# name the key (as union members they would be four anonymous errors).
MetadataValue = (
    Annotated[StrictStr, Field(json_schema_extra={"maxLength": MAX_METADATA_VALUE_CHARS})]
    | Annotated[StrictInt, Field(json_schema_extra={"minimum": -MAX_METADATA_INTEGER, "maximum": MAX_METADATA_INTEGER})]
    | Annotated[StrictFloat, AllowInfNan(False)]
    | StrictBool
)
# The document states what _check_metadata enforces.
_METADATA_SCHEMA = {
    "maxProperties": MAX_METADATA_PAIRS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS, "pattern": r"^[^\x00-\x1f\x7f]*$"},
}
Metadata = Annotated[
    dict[str, MetadataValue], Field(json_schema_extra=_METADATA_SCHEMA), AfterValidator(_check_metadata)
]
# In a merge patch, null removes a key.
MetadataPatch = Annotated[
    dict[str, MetadataValue | None], Field(json_schema_extra=_METADATA_SCHEMA), AfterValidator(_check_metadata)
]

# Identifiers and names are matched, indexed, logged and shown: no control characters.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
# A session id the caller chooses (DESIGN §2b): 1-128 of [A-Za-z0-9_.:-].
CallerSessionId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
ExternalId = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL_CHARACTERS)]
SessionName = Annotated[str, Field(min_length=1, max_length=MAX_SESSION_NAME_CHARS, pattern=NO_CONTROL_CHARACTERS)]
Situation = Annotated[str, text_within(MAX_TEXT_BYTES, "situation")]
Summary = Annotated[str, text_within(MAX_TEXT_BYTES, "summary")]
_DEPTH_NOTE = f"Objects and arrays nest at most {MAX_NESTING} levels."
AgentConfig = Annotated[
    dict[str, Any],
    Field(description=f"Free-form, at most {MAX_AGENT_CONFIG_BYTES // KIB} KiB. {_DEPTH_NOTE}"),
    nested_within("agent_config"),
    object_within(MAX_AGENT_CONFIG_BYTES, "agent_config"),
]
UserMemory = Annotated[
    dict[str, Any],
    Field(description=f"Free-form, at most {MAX_USER_MEMORY_BYTES // KIB} KiB. {_DEPTH_NOTE}"),
    nested_within("user_memory"),
    object_within(MAX_USER_MEMORY_BYTES, "user_memory"),
]
# A merge patch over agent_config or user_memory (the merged object is checked again).
ObjectPatch = Annotated[
    dict[str, Any], Field(description=f"A JSON merge patch. {_DEPTH_NOTE}"), nested_within("the patch")
]
TtlSeconds = Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS_INPUT)]
# Kept to the nanosecond: DynamoDB numbers stop at 1e-130 (5e-324 would be refused by the store).
LatencyMs = Annotated[
    float,
    Field(ge=0, le=10**9, allow_inf_nan=False, description="milliseconds, kept to 6 decimal places"),
    AfterValidator(lambda value: round(value, 6)),
]

MAX_MESSAGE_BYTES = 256 * KIB
# Content through the API (DESIGN §1); above Settings.content_inline_bytes it is kept in S3.
MAX_CONTENT_BYTES = 4 * 1024 * KIB
MessageContent = Annotated[str, text_within(MAX_CONTENT_BYTES, "content")]
# Attachments (DESIGN §11).
MAX_ATTACHMENTS = 32
MAX_ATTACHMENT_BYTES = 100 * 1024 * KIB
MAX_BATCH_MESSAGES = 99
# TransactWriteItems carries at most 4 MB; the session update and key overhead need a margin.
MAX_TRANSACTION_BYTES = 4 * 1024 * KIB - 64 * KIB
DEFAULT_HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 200

# A context request's window (GET .../context?max_messages=).
MAX_CONTEXT_MESSAGES = 1000
DEFAULT_CONTEXT_MESSAGES = 100
