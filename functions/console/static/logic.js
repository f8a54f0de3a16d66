// The console's logic without the DOM: what a page's URL asks the API for, and how a
// transcript is laid out. Unit-tested with Node's test runner (tests/console/).

export const STATUSES = ["active", "idle", "archived", "terminated"];
export const SORT_FIELDS = ["created_at", "last_activity_at"];
export const PAGE_SIZE = 25;

/** "k=v" lines (or "k=v, k2=v2") → {k: "v"}; a line without "=" is an error naming it. */
export function parseMetadata(text) {
  const pairs = {};
  for (const raw of (text || "").split(/[\n,]/)) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at <= 0) throw new Error(`"${line}" is not key=value`);
    pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return pairs;
}

/** A datetime-local value (no zone: the operator's own) → ISO 8601 in UTC, or undefined. */
export function isoFromLocal(value) {
  if (!value) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Error(`"${value}" is not a date and time`);
  return date.toISOString();
}

/** The list page's URL query → the body of POST /v1/agents/sessions/list. */
export function listRequest(query) {
  const get = (name) => (query.get(name) || "").trim();
  const body = { limit: PAGE_SIZE, include_total: true };
  const filters = {};
  if (STATUSES.includes(get("status"))) body.status = get("status");
  if (get("user_id")) filters.user_id = get("user_id");
  if (get("agent_id")) filters.agent_id = get("agent_id");
  const metadata = parseMetadata(get("metadata"));
  if (Object.keys(metadata).length) filters.metadata = metadata;
  const after = isoFromLocal(get("created_after"));
  const before = isoFromLocal(get("created_before"));
  if (after) filters.created_after = after;
  if (before) filters.created_before = before;
  if (Object.keys(filters).length) body.filters = filters;
  const field = SORT_FIELDS.includes(get("sort")) ? get("sort") : "created_at";
  const direction = get("order") === "asc" ? "asc" : "desc";
  body.sort = { field, direction };
  if (get("cursor")) body.cursor = get("cursor");
  return body;
}

/** The URL of the next page: the same filters, the server's cursor. */
export function nextPageQuery(query, cursor) {
  const next = new URLSearchParams(query);
  next.set("cursor", cursor);
  return next;
}

/**
 * The transcript's rows: a tool call and the tool result that answers it side by side, every
 * other message alone, and the summary checkpoint after the message it covers up to.
 */
export function transcriptRows(messages, summaryThroughSeq) {
  const rows = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    const next = messages[i + 1];
    if (
      message.content_type === "tool_call" &&
      next && next.content_type === "tool_result" &&
      (!message.tool_name || !next.tool_name || message.tool_name === next.tool_name)
    ) {
      rows.push({ kind: "tool", call: message, result: next });
      i += 1;
      pushCheckpoint(rows, summaryThroughSeq, message.seq, next.seq);
      continue;
    }
    rows.push({ kind: "message", message });
    pushCheckpoint(rows, summaryThroughSeq, message.seq, message.seq);
  }
  return rows;
}

function pushCheckpoint(rows, through, first, last) {
  if (through !== null && through !== undefined && through >= first && through <= last) {
    rows.push({ kind: "checkpoint", through });
  }
}

/** Whether an attachment is shown as an image (the rest are links to download). */
export function isImage(attachment) {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/i.test(attachment.mime_type || "");
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** The message an API error envelope gives an operator, with what to do about it. */
export function describeError(status, error) {
  const message = (error && error.message) || `The request failed (${status})`;
  if (status === 412) return `${message}. Someone changed this session since the page loaded: reload it and try again.`;
  if (status === 401) return `${message}. Check the API key and sign in again.`;
  if (status === 403) return `${message}. This key may not do that in this namespace.`;
  return message;
}

/** Where a console path leads: the list, or one session. */
export function route(pathAfterConsole) {
  const match = /^sessions\/([^/]+)\/?$/.exec(pathAfterConsole);
  if (match) return { view: "session", sessionId: decodeURIComponent(match[1]) };
  return { view: "list" };
}
