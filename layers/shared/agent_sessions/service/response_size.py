"""How much of a page one Lambda response can carry.

A function's response is at most 6 MB (6,291,456 bytes), the body included in it as a JSON
string: what a page returns is escaped twice (JSON in the body, the body in the response).
Pages of large items (history messages, sessions with large configurations) stop before that
limit and continue through their cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from agent_sessions.models.items import MessageItem

# Room kept for the rest of the response: headers and the page's other fields.
RESPONSE_BODY_BUDGET = 6_291_456 - 256 * 1024
# A byte of text takes at most 7 once escaped twice: a control character becomes \u00XX, and
# then its backslash is escaped again.
WORST_ESCAPING = 7


def sent_size(model: BaseModel) -> int:
    """The bytes a model takes inside the response, as the runtime will send it."""
    once = json.dumps(json.loads(model.model_dump_json()))  # ASCII-escaped, as in the body
    return len(once) + once.count('"') + once.count("\\") + 2  # escaped again in the response


def text_sent_size(text: str | None) -> int:
    """The bytes a string field takes inside the response."""
    once = json.dumps(text)
    return len(once) + once.count('"') + once.count("\\")


def how_many_fit[Item](
    items: Sequence[Item],
    raw_size: Callable[[Item], int],
    render: Callable[[Item], BaseModel],
    reserved: int = 0,
) -> int:
    """How many of `items` (in order, at least one) one response can carry beside `reserved`
    bytes of the page's other fields. `raw_size` is a cheap bound of an item's text in UTF-8
    bytes; items are rendered and measured only when the bound says the page might not fit."""
    budget = RESPONSE_BODY_BUDGET - reserved
    if sum(raw_size(item) for item in items) * WORST_ESCAPING < budget:
        return len(items)
    used = 0
    for count, item in enumerate(items):
        used += sent_size(render(item))
        if used > budget:
            return max(count, 1)
    return len(items)


def utf8_size(text: str | None) -> int:
    return len(text.encode("utf-8", "surrogatepass")) if text else 0


def messages_that_fit(messages: list[MessageItem], reserved: int = 0) -> int:
    """How many of these messages (in order, at least one) one response can carry beside
    `reserved` bytes of other fields."""

    def raw_size(message: MessageItem) -> int:
        texts = (message.content, message.tool_inputs, message.tool_outputs)
        metadata = json.dumps(message.metadata, ensure_ascii=False)
        return sum(utf8_size(text) for text in texts) + utf8_size(metadata) + 1024  # ids, times, the rest

    return how_many_fit(messages, raw_size, lambda message: message.to_message(), reserved)
