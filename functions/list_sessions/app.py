"""POST /v1/agents/sessions/list (JSON filter) and GET /v1/agents/sessions (query string)."""

import json
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError as PydanticValidationError

from agent_sessions import http
from agent_sessions.errors import validation_failure
from agent_sessions.http import Body, Query, Response
from agent_sessions.models.limits import MAX_ID_CHARS, MAX_LIST_LIMIT, NO_CONTROL_CHARACTERS
from agent_sessions.models.requests import (
    CURSOR_NOTE,
    MAX_LIST_OFFSET,
    OFFSET_NOTE,
    ListFilters,
    ListSessionsRequest,
    ListSort,
    Paging,
    SessionStatus,
    SortDirection,
    SortField,
    build_list_query,
)
from agent_sessions.models.responses import SessionPage
from agent_sessions.runtime import session_service

app = http.make_resolver(body_model=ListSessionsRequest, query_prefixes=("metadata.",))

Limit = Annotated[int | None, Query(ge=1, le=MAX_LIST_LIMIT, description="page size, 1-200 (default 50)")]
Offset = Annotated[int | None, Query(ge=0, le=MAX_LIST_OFFSET, description=OFFSET_NOTE)]
Cursor = Annotated[str | None, Query(max_length=4096, description=CURSOR_NOTE)]
Instant = Annotated[
    str | None, Query(description="RFC 3339, with its offset", json_schema_extra={"format": "date-time"})
]


def _metadata_filter_schema(schema: dict[str, Any]) -> None:
    """metadata_filter is a JSON object in a query parameter: the document says so with
    contentMediaType/contentSchema, which the document's builder turns into the parameter's
    `content` (built only when the document is, not on a cold start)."""
    from pydantic import TypeAdapter

    from agent_sessions.models.limits import Metadata

    schema["contentMediaType"] = "application/json"
    schema["contentSchema"] = TypeAdapter(Metadata).json_schema()


@app.post("/v1/agents/sessions/list", summary="List sessions with a JSON filter", tags=["sessions"])
def list_sessions_by_filter(
    request: Annotated[ListSessionsRequest, Body()],
    limit: Limit = None,
    page_size: Limit = None,
    cursor: Cursor = None,
    include_total: Annotated[bool | None, Query()] = None,
    offset: Offset = None,
) -> Response[SessionPage]:
    paging = Paging(
        limit=limit or page_size or request.limit,
        cursor=cursor or request.cursor,
        include_total=include_total if include_total is not None else request.include_total,
        offset=offset if offset is not None else request.offset,
    )
    query = build_list_query(status=request.status, filters=request.filters, sort=request.sort, paging=paging)
    return http.json_response(session_service().list_sessions(http.tenant(app), query))


@app.get("/v1/agents/sessions", summary="List sessions with query parameters", tags=["sessions"])
def list_sessions(
    user_id: Annotated[str | None, Query(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL_CHARACTERS)] = None,
    agent_id: Annotated[str | None, Query(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL_CHARACTERS)] = None,
    status: Annotated[SessionStatus | None, Query()] = None,
    metadata_filter: Annotated[
        str | None,
        Query(
            description='JSON object of metadata pairs, e.g. {"team":"a"}; or metadata.KEY=VALUE',
            json_schema_extra=_metadata_filter_schema,  # type: ignore[arg-type]
        ),
    ] = None,
    created_after: Instant = None,
    created_before: Instant = None,
    sort: Annotated[SortField | None, Query()] = None,
    order: Annotated[SortDirection | None, Query()] = None,
    limit: Limit = None,
    page_size: Limit = None,
    cursor: Cursor = None,
    next_cursor: Cursor = None,
    after: Cursor = None,
    include_total: Annotated[bool | None, Query()] = None,
    offset: Offset = None,
    page: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_LIST_OFFSET + 1,
            description=f"1-based page of `limit` sessions: offset (page - 1) x limit, up to {MAX_LIST_OFFSET:,}",
        ),
    ] = None,
) -> Response[SessionPage]:
    metadata: dict[str, Any] = {}
    if metadata_filter is not None:
        try:
            parsed = json.loads(metadata_filter)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise validation_failure(
                [{"loc": ("query", "metadata_filter"), "msg": "must be a JSON object", "type": "json_invalid"}]
            )
        metadata.update(parsed)
    for name, value in (app.current_event.query_string_parameters or {}).items():
        if name.startswith("metadata.") and len(name) > len("metadata."):
            metadata[name[len("metadata.") :]] = value
    try:
        filters = ListFilters.model_validate(
            {
                "user_id": user_id,
                "agent_id": agent_id,
                "metadata": metadata or None,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
    except PydanticValidationError as error:
        raise validation_failure(error.errors(include_url=False), prefix=["query"]) from None
    paging = Paging(
        limit=limit or page_size,
        cursor=cursor or next_cursor or after,
        include_total=include_total,
        offset=offset,
        page=page,
    )
    query = build_list_query(
        status=status,
        filters=filters,
        sort=ListSort(field=sort or "created_at", direction=order or "desc"),
        paging=paging,
    )
    return http.json_response(session_service().list_sessions(http.tenant(app), query))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/list"))
