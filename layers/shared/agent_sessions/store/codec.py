"""DynamoDB attribute values for the few types the table stores.

boto3's TypeSerializer insists on Decimal for every number; the stored items hold only
strings, integers, a float or two and booleans (free-form objects are stored as JSON text),
so this small codec keeps numbers as int/float and avoids the Decimal round trip.
"""

from __future__ import annotations

from typing import Any

AttributeValue = dict[str, Any]
Item = dict[str, Any]  # attribute name -> AttributeValue


def to_attr(value: Any) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    raise TypeError(f"unsupported attribute type {type(value).__name__}")


def from_attr(attr: AttributeValue) -> Any:
    ((kind, value),) = attr.items()
    if kind == "S":
        return value
    if kind == "N":  # (three `in` tests: a generator over ".eE" cost a list page ~0.5 ms)
        return float(value) if "." in value or "e" in value or "E" in value else int(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    raise TypeError(f"unsupported attribute kind {kind}")


def to_item(values: dict[str, Any]) -> Item:
    """Absent and None values are not stored (a missing attribute reads back as None)."""
    return {name: to_attr(value) for name, value in values.items() if value is not None}


def from_item(item: Item) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, attr in item.items():
        text = attr.get("S")  # most attributes: no call (a list page decodes ~800 of them)
        values[name] = text if text is not None else from_attr(attr)
    return values
