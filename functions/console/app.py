"""GET /console and /console/...: the operator console (DESIGN §12), public like the API's
document. The page is static: the browser calls the public API with the key the operator gives,
kept in the tab's sessionStorage, so scopes and tenancy hold as for any client. No DynamoDB.

Every answer carries a strict Content-Security-Policy: scripts and styles from this origin only
(no inline script), images from this origin and the attachments bucket (presigned URLs), calls
to this origin only."""

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.errors import NotFoundError
from agent_sessions.http import Response
from agent_sessions.settings import get_settings

# Any query parameter: the page's query is its state (the list's filters), read by its script.
app = http.make_resolver(query_prefixes=("",))
STATIC = Path(__file__).parent / "static"
ASSETS = {"console.js": "text/javascript", "logic.js": "text/javascript", "console.css": "text/css"}


@cache
def _file(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


@cache
def _content_security_policy() -> str:
    """Images may come from the attachments bucket: its endpoint when one is configured (the
    local S3), else the bucket's virtual-hosted S3 names."""
    config = get_settings()
    if config.aws_endpoint_url_s3:
        parts = urlsplit(config.aws_endpoint_url_s3)
        images = f"{parts.scheme}://{parts.netloc}"
    else:
        bucket, region = config.attachments_bucket, config.aws_region
        images = f"https://{bucket}.s3.{region}.amazonaws.com https://{bucket}.s3.amazonaws.com"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src 'self' {images}; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def _headers(cache_seconds: int) -> dict[str, str]:
    return {
        "Content-Security-Policy": _content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": f"max-age={cache_seconds}" if cache_seconds else "no-store",
    }


def _base(path: str) -> str:
    """`<base href>` relative to the page's own URL, pointing at …/console/ whatever comes
    before it (a stage, a custom domain's base path, nothing locally)."""
    rest = path[len(http.CONSOLE_PATH) :]
    if not rest:
        return "console/"
    depth = rest.count("/") - 1
    return "../" * depth if depth else "./"


def _page() -> Response[Any]:
    """The one page; every link and asset resolves under …/console/ through its `<base>`."""
    body = _file("index.html").replace("{{BASE}}", _base(app.current_event.raw_event.get("path") or ""))
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=body, headers=_headers(0))


@app.get("/console", include_in_schema=False)
def console() -> Response[Any]:
    return _page()


@app.get("/console/sessions/<session_id>", include_in_schema=False)
def console_session(session_id: str) -> Response[Any]:
    return _page()


@app.get("/console/assets/<name>", include_in_schema=False)
def console_asset(name: str) -> Response[Any]:
    if name not in ASSETS:
        raise NotFoundError(f"No console asset {name[:80]}", code="not_found")
    return Response(status_code=200, content_type=ASSETS[name], body=_file(name), headers=_headers(300))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context)
