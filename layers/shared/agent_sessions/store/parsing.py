"""botocore's JSON response parser with a fast path for DynamoDB's attribute values.

botocore parses a response by walking the output shape: every attribute of every item is an
`AttributeValue` structure of ten members, each looked up in turn, so a history page of 50
messages took 150,000 recursive calls — 60 % of the warm handler's time. The wire form of an
attribute value already is the parsed form except for binaries (base64 on the wire, bytes
parsed), so the fast path copies it, decoding `B` and `BS`. Everything else — other shapes,
errors, anything unexpected in a value — goes through botocore's own parser unchanged; a test
holds the two parsers' results equal on every kind of attribute value.
"""

from __future__ import annotations

from typing import Any

from botocore.parsers import JSONParser, ResponseParserFactory

_AS_IS = frozenset({"S", "N", "BOOL", "NULL", "SS", "NS"})


class _Unexpected(Exception):
    """A value the fast path does not know: botocore's parser takes it."""


def _value(value: Any, blob: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise _Unexpected
    ((tag, inner),) = value.items()
    if inner is None:
        raise _Unexpected
    if tag in _AS_IS:
        return value  # decoded from this response's JSON just now: nothing else holds it
    if tag == "M":
        return {"M": {key: _value(item, blob) for key, item in inner.items()}}
    if tag == "L":
        return {"L": [_value(item, blob) for item in inner]}
    if tag == "B":
        return {"B": blob(inner)}
    if tag == "BS":
        return {"BS": [blob(item) for item in inner]}
    raise _Unexpected


# (botocore-stubs leave out the private members a parser subclass overrides.)
class DynamoDBJSONParser(JSONParser):
    def _handle_map(self, shape: Any, value: Any) -> Any:
        if shape.value.name == "AttributeValue" and isinstance(value, dict):
            try:
                return {key: _value(item, self._blob_parser) for key, item in value.items()}  # type: ignore[attr-defined]
            except _Unexpected:
                pass
        return super()._handle_map(shape, value)  # type: ignore[misc]

    def _handle_structure(self, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue":
            try:
                return _value(value, self._blob_parser)  # type: ignore[attr-defined]
            except _Unexpected:
                pass
        return super()._handle_structure(shape, value)  # type: ignore[misc]


class DynamoDBParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return DynamoDBJSONParser(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)
