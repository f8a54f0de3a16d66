"""HTTP in front of the gateway: the API, the Lambda Invoke API, and Swagger UI at /docs.

One thread per connection (ThreadingHTTPServer), HTTP/1.1 keep-alive, one access-log line
per request: method, path, status, latency, request id (and the function that served it).
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, TextIO

from local_runtime.apigateway import MAX_BODY_BYTES, Gateway, HttpRequest, HttpResponse
from local_runtime.events import LocalEventBus
from local_runtime.lambdas import Functions

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations/?$")
# API Gateway's FlushStageAuthorizersCache (what `revoke-key` calls after revoking a key).
FLUSH_AUTHORIZERS_PATH = re.compile(r"^/restapis/([^/]+)/stages/([^/]+)/cache/authorizers/?$")
SWAGGER = "aws_lambda_powertools.event_handler.openapi.swagger_ui"


def is_loopback(host: str) -> bool:
    """Whether an address (or a host name to bind) is this machine's loopback."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _takes_no_credentials(method: str, path: str, target: str) -> bool:
    """The local AWS endpoints beside the API: Lambda Invoke, EventBridge PutEvents and the
    authorizer-cache flush. API Gateway's routes authenticate with API keys; these do not."""
    if method == "POST" and INVOKE_PATH.match(path):
        return True
    if method == "DELETE" and FLUSH_AUTHORIZERS_PATH.match(path):
        return True
    return method == "POST" and path == "/" and bool(target)


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog. socketserver's default is 5: when a burst of new connections (one
    # per request, as urllib and many load tools make them) arrives while the accepting
    # thread waits for the GIL behind busy handler threads, the kernel's accept queue
    # overflows, the handshake's last ACK is dropped, and the client, which believes it is
    # connected, waits on SYN-ACK retransmissions (1 s, 3 s, 7 s, …) until it times out or
    # is reset. 1024 (capped by net.core.somaxconn) absorbs any burst a laptop can make.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        gateway: Gateway,
        functions: Functions,
        access_log: TextIO | None = None,
        event_bus: LocalEventBus | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.gateway = gateway
        self.functions = functions
        self.event_bus = event_bus
        self.access_log = access_log if access_log is not None else sys.stderr
        self._log_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def log_access(self, method: str, path: str, status: int, started: float, request_id: str, note: str) -> None:
        latency = (time.perf_counter() - started) * 1000
        line = f"{method} {path} {status} {latency:.1f}ms {request_id or '-'}{' ' + note if note else ''}\n"
        with self._log_lock:
            self.access_log.write(line)
            self.access_log.flush()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalServer
    # TCP_NODELAY. The headers and the body go out in two writes; with Nagle's algorithm the
    # body waits for the client's ACK of the headers, which a keep-alive client delays by
    # 40 ms: every request on a kept-alive connection took 40 ms more than its handler.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY, ...) reaches the gateway too, which answers as API
        Gateway does for a method no route declares (the contract's 404 route_not_found),
        where the base class would send an HTML 501."""
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        """The access log is written by `_dispatch`, one line per request."""

    def _dispatch(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            # Drain what was announced (so the client sees the answer), keep none of it.
            remaining = length
            while remaining > 0:
                remaining -= len(self.rfile.read(min(remaining, 1 << 20)) or b"x" * remaining)
            body = b"\0" * (MAX_BODY_BYTES + 1)
        else:
            body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if _takes_no_credentials(self.command, path, self.headers.get("X-Amz-Target", "")) and not is_loopback(
            self.client_address[0]
        ):
            # The Lambda Invoke API, the event bus and the cache flush answer anyone who can
            # reach them, as `sam local start-lambda` does: only this machine may.
            message = b'{"message": "This endpoint takes no credentials and answers this machine only"}'
            self._send(403, [("Content-Type", "application/json")], message)
            self.server.log_access(self.command, self.path, 403, started, "", f"refused {self.client_address[0]}")
            return
        invoke = INVOKE_PATH.match(path)
        if invoke and self.command == "POST":
            self._invoke(invoke.group(1), body, started)
            return
        flush = FLUSH_AUTHORIZERS_PATH.match(path)
        if flush and self.command == "DELETE":
            self.server.gateway.flush_authorizer_cache()
            self._send(202, [("Content-Type", "application/json")], b"")
            self.server.log_access("APIGW", "FlushStageAuthorizersCache", 202, started, "", flush.group(2))
            return
        target = self.headers.get("X-Amz-Target", "")
        if self.command == "POST" and path == "/" and target == "AWSEvents.PutEvents" and self.server.event_bus:
            result = self.server.event_bus.put_events(json.loads(body or b"{}"))
            self._send(200, [("Content-Type", "application/x-amz-json-1.1")], json.dumps(result).encode())
            self.server.log_access("EVENTS", "PutEvents", 200, started, "", f"{len(result['Entries'])} event(s)")
            return
        if self.command == "GET" and path in ("/docs", "/docs/"):
            self._send(200, [("Content-Type", "text/html; charset=utf-8")], _swagger_html().encode())
            self.server.log_access(self.command, self.path, 200, started, "", "docs")
            return
        if self.command == "GET" and path.startswith("/docs/swagger-ui"):
            asset = _swagger_asset(path.rsplit("/", 1)[-1])
            if asset is not None:
                content_type, data = asset
                self._send(200, [("Content-Type", content_type), ("Cache-Control", "max-age=3600")], data)
                self.server.log_access(self.command, self.path, 200, started, "", "docs")
                return
        headers = [(name, value) for name, value in self.headers.items()]
        request = HttpRequest(self.command, self.path, headers, body, self.client_address[0])
        response = self.server.gateway.handle(request)
        self._send_response(response)
        self.server.log_access(
            self.command, self.path, response.status, started, response.request_id, response.function or ""
        )

    def _invoke(self, name: str, payload: bytes, started: float) -> None:
        """The Lambda Invoke API, as `sam local start-lambda` offers it."""
        name = name.rsplit(":", 1)[-1] if name.startswith("arn:") else name
        request_id = str(uuid.uuid4())
        functions = self.server.functions
        if name not in functions.stack.functions:
            body = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ResourceNotFoundException")]
            self._send(404, headers, body)
            self.server.log_access("INVOKE", name, 404, started, request_id, "")
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "Event":
            threading.Thread(target=functions.invoke_payload, args=(name, payload), daemon=True).start()
            self._send(202, [("x-amzn-RequestId", request_id)], b"")
            self.server.log_access("INVOKE", name, 202, started, request_id, "async")
            return
        if invocation_type == "DryRun":
            self._send(204, [("x-amzn-RequestId", request_id)], b"")
            return
        try:
            result, function_error = functions.invoke_payload(name, payload)
        except Exception as error:  # the payload was not JSON: Lambda's 400
            body = json.dumps({"Type": "User", "message": str(error)}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InvalidRequestContentException")]
            self._send(400, headers, body)
            self.server.log_access("INVOKE", name, 400, started, request_id, "")
            return
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ]
        if function_error:
            headers.append(("X-Amz-Function-Error", function_error))
        self._send(200, headers, result)
        self.server.log_access("INVOKE", name, 200, started, request_id, function_error or "")

    def _send_response(self, response: HttpResponse) -> None:
        self._send(response.status, response.headers, response.body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Date", self.date_time_string())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _swagger_html() -> str:
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    from local_runtime.openapi import DOCUMENT

    return generate_swagger_html(
        DOCUMENT.read_text(encoding="utf-8"),
        "/docs/swagger-ui-bundle.min.js",
        "/docs/swagger-ui.min.css",
        "/docs",
        None,
        persist_authorization=True,
    )


def _swagger_asset(name: str) -> tuple[str, bytes] | None:
    kinds = {"swagger-ui-bundle.min.js": "application/javascript", "swagger-ui.min.css": "text/css"}
    if name not in kinds:
        return None
    return kinds[name], resources.files(SWAGGER).joinpath(name).read_bytes()
