"""The operator console (DESIGN §12) in a real browser: Debian's Chromium driven by Playwright
against the local runtime (gateway, functions, DynamoDB Local, S3). Sign-in, the list with its
filters, sorts, paging and total, a session's page and transcript, every action (each through
its confirmation, each checked in the stored state through the API), the live refresh, a stale
view refused (If-Match), keyboard use, axe-core on every page in light and dark mode, 375 px,
the key kept in sessionStorage only and nothing loaded from another origin.

`CONSOLE_SCREENSHOTS=1` writes the README's screenshots (docs/console-*.png)."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect, sync_playwright

from support import ROOT

pytestmark = [pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def png(width: int = 240, height: int = 135) -> bytes:
    """A real PNG (red pixels), so the browser can decode and show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((255, 2 * y % 256, 90)) * width for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: `make browser` (part of `make test`) installs it")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Console:
    """The live API seen through the console: a fresh namespace per test."""

    def __init__(self, api: Any, browser: Browser) -> None:
        self.api = api
        api.namespace = api.new_namespace(f"console-{os.urandom(3).hex()}")
        self.browser = browser
        self.url = f"{api.base_url}/console"

    def page(self, *, signed_in: bool = True, dark: bool = False, width: int = 1280, csp: bool = True) -> Page:
        context = self.browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light", bypass_csp=not csp
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        if signed_in:
            page.goto(self.url)
            self.sign_in(page)
        return page

    def sign_in(self, page: Page, key: str | None = None) -> None:
        page.get_by_label("API key").fill(key or self.api.key)
        page.get_by_label("Namespace").fill(self.api.namespace)
        page.get_by_role("button", name="Sign in").click()

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        reply = self.api.request(method, path, body, **kwargs)
        assert reply.status < 300, (reply.status, reply.body)
        return reply.body

    def conversation(self, **fields: Any) -> str:
        """A session with a tool call and its result, an image, a file and a summary checkpoint."""
        session = self.call("POST", "/v1/agents/sessions", {"user_id": "ada", "agent_id": "support", **fields})
        sid = session["session_id"]
        self.call(
            "POST",
            f"/v1/agents/sessions/{quote(sid)}/messages",
            {
                "messages": [
                    {"role": "user", "content": "My order is late.", "token_count": 5},
                    {
                        "role": "assistant",
                        "content": "Checking.",
                        "content_type": "tool_call",
                        "tool_name": "order_status",
                        "tool_inputs": '{"order": "A-17"}',
                    },
                    {
                        "role": "tool",
                        "content": "shipped",
                        "content_type": "tool_result",
                        "tool_name": "order_status",
                        "tool_outputs": '{"status": "shipped"}',
                    },
                    {
                        "role": "user",
                        "content": "Here is the label.",
                        "attachments": [
                            {"name": "label.png", "mime_type": "image/png", "data": base64.b64encode(png()).decode()},
                            {
                                "name": "invoice.pdf",
                                "mime_type": "application/pdf",
                                "data": base64.b64encode(b"%PDF-1.4 x").decode(),
                            },
                        ],
                    },
                    {"role": "assistant", "content": "It arrives tomorrow.", "token_count": 4},
                ]
            },
        )
        self.call(
            "PATCH", f"/v1/agents/sessions/{quote(sid)}", {"summary": "Order A-17 is late.", "summary_through_seq": 2}
        )
        return str(sid)

    def session(self, sid: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/agents/sessions/{quote(sid)}"))

    def messages(self, sid: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/v1/agents/sessions/{quote(sid)}/history?limit=200")["messages"])


@pytest.fixture
def console(live_api: Any, browser: Browser) -> Console:
    return Console(live_api, browser)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is (WCAG 2.1 A and AA)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})).violations"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_sign_in_keeps_the_key_in_the_tab_only_and_a_wrong_key_is_explained(console: Console) -> None:
    page = console.page(signed_in=False)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(console.url)
    console.sign_in(page, key="sk_not_a_key_at_all")
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    console.sign_in(page)
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    stored = page.evaluate("({...sessionStorage})")
    assert console.api.key in stored.values()
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert all(console.api.key not in url for url in requests)
    # the page's answer: a strict policy, no inline script
    response = page.goto(console.url)
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    # a new tab is signed out (sessionStorage is the tab's)
    other = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    other.goto(console.url)
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_list_filters_sorts_pages_and_counts(console: Console) -> None:
    for index in range(27):
        console.call(
            "POST",
            "/v1/agents/sessions",
            {
                "user_id": "ada" if index % 3 == 0 else "bob",
                "agent_id": "support",
                "session_name": f"conversation {index:02d}",
                "metadata": {"channel": "web" if index % 2 else "phone"},
            },
        )
    page = console.page()
    expect(page.get_by_role("heading", name="27 sessions")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("conversation 26")  # newest first
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_role("heading", name="27 sessions")).to_be_visible()
    expect(rows.last).to_contain_text("conversation 00")
    page.get_by_role("link", name="First page").click()
    # filters: user and metadata together, oldest first
    page.get_by_label("User id").fill("ada")
    page.get_by_label("Metadata").fill("channel=phone")
    page.get_by_label("Order").select_option("asc")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="5 sessions")).to_be_visible()  # 0, 6, 12, 18, 24
    names = page.locator("tbody tr td:nth-child(2)").all_text_contents()
    assert names == [f"conversation {i:02d}" for i in (0, 6, 12, 18, 24)]
    # every state is a link: the same URL in a new tab gives the same page
    query = urlsplit(page.url).query
    assert "user_id=ada" in query and "cursor" not in query
    page.get_by_label("Status").select_option("archived")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No session matches these filters.")).to_be_visible()


def test_a_session_page_shows_the_conversation(console: Console) -> None:
    sid = console.conversation(session_name="Late order", quotas={"max_messages": 50})
    page = console.page()
    page.get_by_role("link", name=sid).click()
    expect(page.get_by_role("heading", name="Late order")).to_be_visible()
    assert urlsplit(page.url).path.endswith(f"/console/sessions/{sid}")
    details = page.locator(".details")
    expect(details).to_contain_text("max messages: 50")
    expect(details).to_contain_text("Order A-17 is late.")
    expect(page.get_by_role("heading", name="Transcript (5 messages)")).to_be_visible()
    pair = page.locator(".tool-pair")
    expect(pair.locator("article")).to_have_count(2)  # the call beside its result
    expect(pair).to_contain_text('{"order": "A-17"}')
    expect(pair).to_contain_text('{"status": "shipped"}')
    expect(page.get_by_role("note")).to_contain_text("covers messages 0 to 2")
    image = page.get_by_role("img", name="label.png")
    expect(image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 240  # from S3, under the policy
    download = page.get_by_role("link", name="Download invoice.pdf (application/pdf, 10 B)")
    expect(download).to_be_visible()
    # a deep link, opened fresh
    again = console.page()
    again.goto(f"{console.url}/sessions/{sid}")
    expect(again.get_by_role("heading", name="Late order")).to_be_visible()


def test_actions_each_confirmed_each_stored(console: Console) -> None:
    sid = console.conversation()
    page = console.page()
    page.goto(f"{console.url}/sessions/{sid}")
    first = page.locator("#message-4")

    # feedback
    first.get_by_role("button", name="Feedback message 4").click()
    page.get_by_label("Rating").select_option("negative")
    page.get_by_label("Comment (optional)").fill("wrong date")
    page.get_by_role("button", name="Save feedback").click()
    expect(page.locator("#message-4")).to_contain_text("Feedback: negative — wrong date")
    assert console.messages(sid)[4]["feedback"]["rating"] == "negative"

    # cancel changes nothing
    page.locator("#message-3").get_by_role("button", name="Redact message 3").click()
    page.get_by_role("button", name="Cancel").click()
    assert console.messages(sid)[3]["content"] == "Here is the label."

    # redaction, files too
    page.locator("#message-3").get_by_role("button", name="Redact message 3").click()
    page.get_by_label("Replacement text").fill("[removed]")
    page.get_by_role("button", name="Redact", exact=True).click()
    expect(page.locator("#message-3")).to_contain_text("[removed]")
    stored = console.messages(sid)[3]
    assert stored["content"] == "[removed]" and stored["attachments"] == []

    # rewind to message 2: messages 3 and 4 go
    page.locator("#message-2").get_by_role("button", name="Rewind to here message 2").click()
    page.get_by_role("button", name="Rewind", exact=True).click()
    expect(page.get_by_role("heading", name="Transcript (3 messages)")).to_be_visible()
    assert console.session(sid)["message_count"] == 3

    # archive, then reactivate (If-Match on the version the page shows)
    page.get_by_role("button", name="Archive").click()
    page.get_by_role("dialog").get_by_role("button", name="Archive").click()
    expect(page.get_by_role("status")).to_contain_text("Session archived")
    assert console.session(sid)["status"] == "archived"
    page.get_by_role("button", name="Reactivate").click()
    page.get_by_role("dialog").get_by_role("button", name="Reactivate").click()
    expect(page.get_by_role("status")).to_contain_text("Session reactivated")
    assert console.session(sid)["status"] == "active"

    # fork from message 1: the child opens, with its lineage
    page.locator("#message-1").get_by_role("button", name="Fork from here message 1").click()
    page.get_by_label("Name of the new session (optional)").fill("what if")
    page.get_by_role("dialog").get_by_role("button", name="Fork").click()
    expect(page.get_by_role("heading", name="what if")).to_be_visible()
    child = urlsplit(page.url).path.rsplit("/", 1)[-1]
    assert console.session(child)["forked_from"] == {"session_id": sid, "through_seq": 1}
    expect(page.locator(".details")).to_contain_text(f"Forked from {sid} through message 1")

    # export: the browser saves the file the API gives
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export").click()
    saved = Path(download_info.value.path()).read_text()
    assert download_info.value.suggested_filename == f"{child}.ndjson"
    assert json.loads(saved.splitlines()[0])["session_id"] == child
    assert len(saved.splitlines()) == 1 + console.session(child)["message_count"]

    # terminate the child, purge the parent
    page.get_by_role("button", name="Terminate").click()
    page.get_by_role("dialog").get_by_role("button", name="Terminate").click()
    expect(page.get_by_role("status")).to_contain_text("Session terminated")
    assert console.session(child)["status"] == "terminated"
    page.goto(f"{console.url}/sessions/{sid}")
    page.get_by_role("button", name="Purge").click()
    page.get_by_role("dialog").get_by_role("button", name="Purge").click()
    expect(page.get_by_role("heading", name="Session purged")).to_be_visible()
    assert console.api.request("GET", f"/v1/agents/sessions/{sid}").status == 404


def test_a_stale_view_is_refused_and_a_live_one_follows_changes(console: Console) -> None:
    sid = console.conversation()
    page = console.page(signed_in=False)
    page.clock.install()  # the live refresh runs when the test says so
    page.goto(console.url)
    console.sign_in(page)
    page.goto(f"{console.url}/sessions/{sid}")
    expect(page.get_by_role("heading", name="Transcript (5 messages)")).to_be_visible()
    # someone else changes the session: the page's archive carries the old version
    console.call("PATCH", f"/v1/agents/sessions/{sid}", {"session_name": "renamed elsewhere"})
    page.get_by_role("button", name="Archive").click()
    page.get_by_role("dialog").get_by_role("button", name="Archive").click()
    expect(page.get_by_role("alert")).to_contain_text("reload it and try again")
    assert console.session(sid)["status"] == "active"
    # the refresh picks up new messages by itself
    console.call("POST", f"/v1/agents/sessions/{sid}/messages", {"content": "Still there?"})
    page.clock.run_for(6000)
    expect(page.get_by_role("heading", name="Transcript (6 messages)")).to_be_visible()
    expect(page.get_by_text("Still there?")).to_be_visible()
    expect(page.get_by_role("heading", name="renamed elsewhere")).to_be_visible()


def test_erase_a_user_repeats_while_there_are_more(console: Console) -> None:
    for _ in range(3):
        console.call("POST", "/v1/agents/sessions", {"user_id": "leaving"})
    kept = console.call("POST", "/v1/agents/sessions", {"user_id": "staying"})["session_id"]
    page = console.page()
    page.get_by_role("button", name="Erase a user…").click()
    page.get_by_label("User id").last.fill("leaving")
    page.get_by_role("button", name="Erase every session").click()
    expect(page.get_by_role("status")).to_contain_text("Erased 3 sessions of user leaving")
    listed = console.call("GET", "/v1/agents/sessions?user_id=leaving&include_total=true")
    assert listed["total"] == 0
    assert console.session(kept)["user_id"] == "staying"


def test_keyboard_alone(console: Console) -> None:
    sid = console.conversation(session_name="Keyboard")
    page = console.page(signed_in=False)
    page.goto(console.url)
    expect(page.get_by_label("API key")).to_be_focused()  # the form takes the focus
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # before the masthead's link: the skip link
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(console.api.key)
    page.keyboard.press("Tab")
    page.keyboard.type(console.api.namespace)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1 session")).to_be_visible()
    link = page.get_by_role("link", name=sid)
    for _ in range(40):  # Tab through the page until the session's link has the focus
        page.keyboard.press("Tab")
        if link.evaluate("(node) => node === document.activeElement"):
            break
    else:
        pytest.fail("the session's link cannot be reached by Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Keyboard")).to_be_visible()
    page.get_by_role("button", name="Archive").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")  # a dialog is left with Escape, nothing done
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert console.session(sid)["status"] == "active"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_axe_finds_nothing_serious_at_375_px_and_nothing_comes_from_elsewhere(console: Console, dark: bool) -> None:
    sid = console.conversation(session_name="Accessible")
    # axe is injected by the test: this context lets it in past the page's policy
    page = console.page(signed_in=False, dark=dark, width=375, csp=False)
    origins: set[str] = set()
    page.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    page.goto(console.url)
    assert axe_violations(page) == [], "sign-in"
    console.sign_in(page)
    expect(page.get_by_role("heading", name="1 session")).to_be_visible()
    assert axe_violations(page) == [], "list"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.goto(f"{console.url}/sessions/{sid}")
    expect(page.get_by_role("img", name="label.png")).to_be_visible()
    assert axe_violations(page) == [], "session"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_role("button", name="Purge").click()
    assert axe_violations(page) == [], "confirmation"
    page.get_by_role("button", name="Cancel").click()
    s3 = os.environ["AWS_ENDPOINT_URL_S3"]
    allowed = {console.api.base_url.rstrip("/"), "{0.scheme}://{0.netloc}".format(urlsplit(s3))}
    assert origins <= allowed, origins - allowed
    if os.environ.get("CONSOLE_SCREENSHOTS") and not dark:
        desktop = console.page()
        desktop.goto(f"{console.url}/sessions/{sid}")
        expect(desktop.get_by_role("img", name="label.png")).to_be_visible()
        desktop.screenshot(path=str(ROOT / "docs" / "console-session.png"), full_page=True)
        desktop.goto(console.url)
        expect(desktop.get_by_role("heading", name="1 session")).to_be_visible()
        desktop.screenshot(path=str(ROOT / "docs" / "console-list.png"))


def test_the_policy_names_the_bucket_in_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a local S3, the images' origin is the attachments bucket's S3 names."""
    import importlib.util

    from agent_sessions.settings import get_settings

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("ATTACHMENTS_BUCKET", "acme-attachments")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    get_settings.cache_clear()
    spec = importlib.util.spec_from_file_location("console_app", ROOT / "functions" / "console" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        policy = module._content_security_policy()
    finally:
        get_settings.cache_clear()
    assert (
        "img-src 'self' https://acme-attachments.s3.eu-west-1.amazonaws.com https://acme-attachments.s3.amazonaws.com;"
        in policy
    )
    assert json.dumps(policy).count("'unsafe") == 0


def test_against_make_run(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The issue's walk through, against `make run` as a process: sign in by the labelled
    fields with the key it seeds, find a session by its name, open its deep link, read it (a
    tool call by its tool name, an image rendered), terminate it after the confirmation."""
    from local_process import DEV_KEY, start_runtime

    runtime = start_runtime(tmp_path_factory.mktemp("console-state"))
    try:
        status, created = runtime.json(
            "POST", "/v1/agents/sessions", {"user_id": "ada", "session_name": "Refund for order 88"}
        )
        assert status == 200, created
        sid = created["session_id"]
        status, _ = runtime.json(
            "POST",
            f"/v1/agents/sessions/{sid}/messages",
            {
                "messages": [
                    {
                        "role": "user",
                        "content": "Refund please",
                        "attachments": [
                            {"name": "receipt.png", "mime_type": "image/png", "data": base64.b64encode(png()).decode()}
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": "Looking it up",
                        "content_type": "tool_call",
                        "tool_name": "lookup_order",
                        "tool_inputs": '{"order": 88}',
                    },
                ]
            },
        )
        assert status == 200
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        response = page.goto(f"{runtime.base_url}/console")
        assert response is not None and "content-security-policy" in response.headers
        page.get_by_label("API key").fill(DEV_KEY)
        page.get_by_label("Namespace").fill("it")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name=sid).wait_for()
        row = page.locator("tbody tr", has_text="Refund for order 88")
        expect(row).to_have_count(1)
        deep_link = f"{runtime.base_url}/console/sessions/{sid}"
        page.goto(deep_link)
        expect(page.get_by_role("heading", name="Refund for order 88")).to_be_visible()
        expect(page.get_by_text("Refund please")).to_be_visible()
        expect(page.get_by_text("tool call: lookup_order")).to_be_visible()
        image = page.get_by_role("img", name="receipt.png")
        expect(image).to_be_visible()
        assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 240
        page.get_by_role("button", name="Terminate").click()
        expect(page.get_by_role("dialog")).to_contain_text("Terminate this session?")
        page.get_by_role("dialog").get_by_role("button", name="Terminate").click()
        expect(page.get_by_role("status")).to_contain_text("Session terminated")
        status, session = runtime.json("GET", f"/v1/agents/sessions/{sid}")
        assert (status, session["status"]) == (200, "terminated")
        assert DEV_KEY in page.evaluate("Object.values({...sessionStorage})")
        assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
        assert DEV_KEY not in page.url
        context.close()
    finally:
        runtime.stop()
