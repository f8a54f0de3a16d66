// Unit tests of the console's logic (node --test): run by tests/console/test_logic.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describeError, formatBytes, isImage, isoFromLocal, listRequest, nextPageQuery, parseMetadata, route, transcriptRows,
} from "../../functions/console/static/logic.js";

test("metadata pairs, by line or by comma; a pair without = is named", () => {
  assert.deepEqual(parseMetadata("channel=web, tier = gold\nregion=eu=west"), { channel: "web", tier: "gold", region: "eu=west" });
  assert.deepEqual(parseMetadata(""), {});
  assert.throws(() => parseMetadata("channel"), /"channel" is not key=value/);
  assert.throws(() => parseMetadata("=web"), /is not key=value/);
});

test("the list's URL query becomes the list request", () => {
  const query = new URLSearchParams({
    status: "archived", user_id: " u1 ", agent_id: "bot", metadata: "channel=web",
    created_after: "2026-01-02T03:04", sort: "last_activity_at", order: "asc", cursor: "abc",
  });
  const body = listRequest(query);
  assert.equal(body.status, "archived");
  assert.deepEqual(body.filters.user_id, "u1");
  assert.deepEqual(body.filters.metadata, { channel: "web" });
  assert.equal(body.filters.created_after, new Date("2026-01-02T03:04").toISOString());
  assert.deepEqual(body.sort, { field: "last_activity_at", direction: "asc" });
  assert.equal(body.cursor, "abc");
  assert.equal(body.include_total, true);
});

test("unknown values fall back to the defaults; no filter, no filters object", () => {
  const body = listRequest(new URLSearchParams({ status: "nonsense", sort: "name", order: "sideways" }));
  assert.equal(body.status, undefined);
  assert.equal(body.filters, undefined);
  assert.deepEqual(body.sort, { field: "created_at", direction: "desc" });
  assert.throws(() => isoFromLocal("not a date"), /is not a date/);
});

test("the next page keeps the filters and takes the server's cursor", () => {
  const next = nextPageQuery(new URLSearchParams({ user_id: "u1", cursor: "old" }), "new");
  assert.equal(next.get("user_id"), "u1");
  assert.equal(next.get("cursor"), "new");
});

test("a tool call and its result share a row; the checkpoint follows the message it covers", () => {
  const messages = [
    { seq: 0, content_type: "text" },
    { seq: 1, content_type: "tool_call", tool_name: "weather" },
    { seq: 2, content_type: "tool_result", tool_name: "weather" },
    { seq: 3, content_type: "tool_call", tool_name: "search" },
    { seq: 4, content_type: "tool_result", tool_name: "other" },
    { seq: 5, content_type: "text" },
  ];
  const rows = transcriptRows(messages, 2);
  assert.deepEqual(rows.map((r) => r.kind), ["message", "tool", "checkpoint", "message", "message", "message"]);
  assert.equal(rows[1].call.seq, 1);
  assert.equal(rows[1].result.seq, 2);
  assert.equal(rows[2].through, 2);
  assert.deepEqual(transcriptRows(messages, null).filter((r) => r.kind === "checkpoint"), []);
});

test("images are shown, other files downloaded; sizes read as people read them", () => {
  assert.equal(isImage({ mime_type: "image/png" }), true);
  assert.equal(isImage({ mime_type: "image/svg+xml" }), false); // scripts inside: a download, not an <img>
  assert.equal(isImage({ mime_type: "application/pdf" }), false);
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(2048), "2.0 KiB");
  assert.equal(formatBytes(30 * 1024 * 1024), "30 MiB");
});

test("errors say what to do; routes", () => {
  assert.match(describeError(412, { message: "The session changed" }), /reload it and try again/);
  assert.match(describeError(401, null), /sign in again/);
  assert.deepEqual(route("sessions/thread%3A42"), { view: "session", sessionId: "thread:42" });
  assert.deepEqual(route(""), { view: "list" });
  assert.deepEqual(route("anything/else"), { view: "list" });
});
