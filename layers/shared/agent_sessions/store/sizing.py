"""Item sizes as DynamoDB bills them, for the capacity model and the tests that hold an
append's writes small (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).

A string is its UTF-8 bytes, a number about one byte per two significant digits plus one, a
boolean or null one byte, a map or list 3 bytes plus its elements (one byte each) — and every
attribute's name counts as UTF-8 bytes too.
"""

from __future__ import annotations

from typing import Any

KB = 1024


def number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") if "e" not in text.lower() else text
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode("utf-8", "surrogatepass"))
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(v) + 1 for name, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in inner)
    raise TypeError(f"unknown attribute kind {kind}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item in DynamoDB's low-level form ({name: {"S": ...}})."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    """Standard write units for one write of an item of this size (1 per started KB, at least 1)."""
    return max(1, -(-size // KB))
