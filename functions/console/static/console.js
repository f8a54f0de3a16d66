// The operator console (DESIGN §12): plain DOM, no framework, no build step. Every state has
// a URL (the list's filters are its query, a session is /console/sessions/<id>); every call is
// the public API with the key the operator gave, kept in this tab's sessionStorage only.
import {
  STATUSES, describeError, formatBytes, isImage, listRequest, nextPageQuery, route, transcriptRows,
} from "./logic.js";

const CONSOLE_ROOT = new URL(".", document.baseURI); // …/console/
const API_ROOT = new URL("..", CONSOLE_ROOT); // the stage's root: …/v1/… lives under it
const LIST = new URL("../console", CONSOLE_ROOT).pathname; // the list (…/console, no trailing slash)
const KEY = "agent-sessions.key";
const NAMESPACE = "agent-sessions.namespace";
const REFRESH_MS = 5000;
const HISTORY_PAGE = 200;
const HISTORY_MAX = 2000;

const main = document.getElementById("main");

class ApiError extends Error {
  constructor(status, error) {
    super(describeError(status, error));
    this.status = status;
    this.error = error || {};
  }
}

// --- DOM helpers: text goes in as text, never as HTML --------------------------------------

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined && node !== false));
}

function announce(text) {
  document.getElementById("announcer").textContent = text;
}

function errorSummary(error) {
  const box = h("div", { class: "error-summary", role: "alert", tabindex: "-1" },
    h("h2", {}, "There is a problem"),
    h("p", {}, error.message || String(error)));
  return box;
}

function reportError(container, error) {
  container.querySelectorAll(":scope > .error-summary").forEach((node) => node.remove());
  const box = errorSummary(error);
  container.prepend(box);
  box.focus();
}

function sessionHref(sessionId) {
  return new URL(`sessions/${encodeURIComponent(sessionId)}`, CONSOLE_ROOT).href;
}

// --- the API -----------------------------------------------------------------------------

async function api(method, path, { body, query, ifMatch } = {}) {
  const url = new URL(path.replace(/^\//, ""), API_ROOT);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers = {
    Authorization: `Bearer ${sessionStorage.getItem(KEY)}`,
    "X-Namespace": sessionStorage.getItem(NAMESPACE),
  };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { message: text.slice(0, 200) } };
  }
  if (!response.ok) throw new ApiError(response.status, data && data.error);
  return data;
}

const sessionPath = (id) => `v1/agents/sessions/${encodeURIComponent(id)}`;

// --- confirmation (a modal dialog: focus stays in it, Escape cancels) ---------------------

function confirmAction({ title, text, action, fields = [] }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  document.getElementById("confirm-fields").replaceChildren(...fields);
  dialog.returnValue = "";
  dialog.showModal();
  (fields.length ? fields[0].querySelector("input, textarea, select") : document.getElementById("confirm-ok"))?.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue !== "confirm") return resolve(null);
      const values = {};
      for (const input of dialog.querySelectorAll("#confirm-fields [name]")) {
        values[input.name] = input.type === "checkbox" ? input.checked : input.value;
      }
      resolve(values);
    }, { once: true });
  });
}

function field(label, input, hint) {
  const id = input.id || `field-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    input);
}

// --- sign-in -------------------------------------------------------------------------------

function signedIn() {
  return Boolean(sessionStorage.getItem(KEY) && sessionStorage.getItem(NAMESPACE));
}

function renderSignIn(error) {
  document.title = "Sign in — Agent Sessions console";
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true, spellcheck: "false" });
  const namespace = h("input", { type: "text", name: "namespace", autocomplete: "off", required: true, spellcheck: "false" });
  const form = h("form", { class: "sign-in", novalidate: true },
    h("h1", {}, "Sign in"),
    h("p", {}, "Your API key and namespace are kept in this browser tab only, until you sign out or close it."),
    field("API key", key, "Starts with sk_"),
    field("Namespace", namespace, "A namespace id (ns_…) or its name"),
    h("button", { type: "submit", class: "button" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!key.value.trim() || !namespace.value.trim()) {
      reportError(form, new Error("Enter an API key and a namespace"));
      return;
    }
    sessionStorage.setItem(KEY, key.value.trim());
    sessionStorage.setItem(NAMESPACE, namespace.value.trim());
    try {
      await api("POST", "v1/agents/sessions/list", { body: { limit: 1 } });
    } catch (failure) {
      sessionStorage.removeItem(KEY);
      sessionStorage.removeItem(NAMESPACE);
      reportError(form, failure);
      return;
    }
    start();
  });
  show(form);
  if (error) reportError(form, error);
  key.focus();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(NAMESPACE);
  window.location.assign(LIST);
}

// --- the sessions list -----------------------------------------------------------------------

function filterForm(query) {
  const value = (name) => query.get(name) || "";
  const select = (name, options) => h("select", { name },
    ...options.map(([optionValue, label]) => h("option", { value: optionValue, selected: value(name) === optionValue }, label)));
  return h("form", { class: "filters", method: "get", action: LIST, role: "search", "aria-label": "Filter sessions" },
    h("div", { class: "filter-grid" },
      field("Status", select("status", [["", "Any"], ...STATUSES.map((s) => [s, s])])),
      field("User id", h("input", { name: "user_id", value: value("user_id") })),
      field("Agent id", h("input", { name: "agent_id", value: value("agent_id") })),
      field("Metadata", h("input", { name: "metadata", value: value("metadata") }), "key=value, comma-separated"),
      field("Created after", h("input", { type: "datetime-local", name: "created_after", value: value("created_after") })),
      field("Created before", h("input", { type: "datetime-local", name: "created_before", value: value("created_before") })),
      field("Sort by", select("sort", [["created_at", "Created"], ["last_activity_at", "Last activity"]])),
      field("Order", select("order", [["desc", "Newest first"], ["asc", "Oldest first"]]))),
    h("div", { class: "button-group" },
      h("button", { type: "submit", class: "button" }, "Apply filters"),
      h("a", { href: LIST, class: "button secondary" }, "Clear")));
}

async function renderList() {
  document.title = "Sessions — Agent Sessions console";
  const query = new URLSearchParams(window.location.search);
  const results = h("section", { "aria-labelledby": "results-title" }, h("p", {}, "Loading sessions…"));
  const eraseButton = h("button", { type: "button", class: "button warning" }, "Erase a user…");
  eraseButton.addEventListener("click", () => eraseUser(results));
  show(h("h1", {}, "Sessions"), filterForm(query), results, h("div", { class: "danger-zone" }, eraseButton));
  let page;
  try {
    page = await api("POST", "v1/agents/sessions/list", { body: listRequest(query) });
  } catch (error) {
    results.replaceChildren();
    reportError(results, error);
    return;
  }
  const rows = page.results.map((session) => h("tr", {},
    h("th", { scope: "row" }, h("a", { href: sessionHref(session.session_id) }, session.session_id)),
    h("td", {}, session.session_name || "—"),
    h("td", {}, session.user_id || "—"),
    h("td", {}, session.agent_id || "—"),
    h("td", {}, h("span", { class: `status status-${session.status}` }, session.status)),
    h("td", { class: "number" }, session.message_count),
    h("td", {}, h("time", { datetime: session.created_at }, session.created_at)),
    h("td", {}, h("time", { datetime: session.last_activity_at }, session.last_activity_at))));
  const table = h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-labelledby": "results-title" },
    h("table", {},
      h("caption", { class: "visually-hidden" }, "Sessions matching the filters"),
      h("thead", {}, h("tr", {}, ...["Session", "Name", "User", "Agent", "Status", "Messages", "Created", "Last activity"]
        .map((label) => h("th", { scope: "col" }, label)))),
      h("tbody", {}, ...rows)));
  const paging = h("nav", { class: "paging", "aria-label": "Pages" },
    query.get("cursor") ? h("a", { href: `${LIST}?${withoutCursor(query)}` }, "First page") : null,
    page.pagination.has_more && page.pagination.next_cursor
      ? h("a", { href: `${LIST}?${nextPageQuery(query, page.pagination.next_cursor)}`, rel: "next" }, "Next page")
      : null);
  results.replaceChildren(
    h("h2", { id: "results-title" }, `${page.total} session${page.total === 1 ? "" : "s"}`),
    page.results.length ? table : h("p", {}, "No session matches these filters."),
    paging);
}

function withoutCursor(query) {
  const copy = new URLSearchParams(query);
  copy.delete("cursor");
  return copy;
}

async function eraseUser(container) {
  const user = h("input", { name: "user_id", required: true, autocomplete: "off" });
  const values = await confirmAction({
    title: "Erase a user",
    text: "Every session of this user, with every message and file, is deleted for good.",
    action: "Erase every session",
    fields: [field("User id", user)],
  });
  if (!values || !values.user_id.trim()) return;
  let purged = 0;
  try {
    for (;;) { // up to 100 sessions per call: repeat while the API says there are more
      const result = await api("DELETE", "v1/agents/sessions", { query: { user_id: values.user_id.trim() } });
      purged += result.purged;
      if (!result.has_more) break;
    }
  } catch (error) {
    reportError(container, error);
    return;
  }
  announce(`Erased ${purged} sessions of ${values.user_id.trim()}`);
  await renderList();
  main.prepend(h("div", { class: "notice", role: "status" }, `Erased ${purged} session${purged === 1 ? "" : "s"} of user ${values.user_id.trim()}.`));
}

// --- one session ---------------------------------------------------------------------------

async function loadSession(sessionId) {
  const session = await api("GET", sessionPath(sessionId));
  const messages = [];
  let cursor;
  let truncated = false;
  do {
    const page = await api("GET", `${sessionPath(sessionId)}/history`, { query: { limit: HISTORY_PAGE, cursor } });
    messages.push(...page.messages);
    cursor = page.has_more ? page.next_cursor : undefined;
    if (messages.length >= HISTORY_MAX && cursor) truncated = true;
  } while (cursor && !truncated);
  return { session, messages, truncated };
}

function describe(list) {
  return h("dl", { class: "summary-list" }, ...list.filter(([, v]) => v !== undefined).flatMap(([term, value]) => [
    h("dt", {}, term), h("dd", {}, value === null || value === "" ? "—" : value)]));
}

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function sessionDetails(session) {
  const stats = session.stats || {};
  const quotas = session.quotas || {};
  const lineage = session.forked_from
    ? h("span", {}, "Forked from ", h("a", { href: sessionHref(session.forked_from.session_id) }, session.forked_from.session_id),
      ` through message ${session.forked_from.through_seq}`)
    : "Not a fork";
  return h("section", { "aria-labelledby": "details-title", class: "details" },
    h("h2", { id: "details-title" }, "Details"),
    describe([
      ["Status", h("span", { class: `status status-${session.status}` }, session.status)],
      ["Name", session.session_name],
      ["User", session.user_id],
      ["Agent", session.agent_id],
      ["Version", String(session.version)],
      ["Created", session.created_at],
      ["Last activity", session.last_activity_at],
      ["Expires", session.expires_at],
      ["Terminated", session.terminated_at || undefined],
      ["Lineage", lineage],
      ["Messages", String(stats.total_messages ?? session.message_count)],
      ["Tokens", String(stats.total_tokens ?? 0)],
      ["Tool calls", String(stats.total_tool_calls ?? 0)],
      ["Average latency", stats.avg_latency_ms == null ? null : `${Math.round(stats.avg_latency_ms)} ms`],
      ["Quotas", Object.values(quotas).some((v) => v != null)
        ? Object.entries(quotas).filter(([, v]) => v != null).map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`).join("; ")
        : "None"],
      ["Metadata", Object.keys(session.metadata || {}).length ? json(session.metadata) : null],
      ["Summary", session.summary || null],
      ["Situation", session.situation || null],
      ["Agent configuration", session.agent_config && Object.keys(session.agent_config).length ? json(session.agent_config) : null],
    ]));
}

function attachmentView(attachment) {
  const label = `${attachment.name} (${attachment.mime_type}, ${formatBytes(attachment.size)})`;
  if (isImage(attachment) && attachment.url) {
    return h("figure", { class: "attachment" },
      h("img", { src: attachment.url, alt: attachment.name, loading: "lazy" }),
      h("figcaption", {}, h("a", { href: attachment.url, download: attachment.name }, `Download ${label}`)));
  }
  return h("p", { class: "attachment" }, h("a", { href: attachment.url, download: attachment.name }, `Download ${label}`));
}

function messageBody(message) {
  const parts = [];
  if (message.content) parts.push(h("div", { class: "content" }, message.content));
  else if (message.content_url) {
    parts.push(h("p", {}, h("a", { href: message.content_url }, `Open the content (${formatBytes(message.content_size || 0)})`)));
  }
  if (message.tool_inputs) parts.push(h("details", {}, h("summary", {}, "Tool inputs"), h("pre", {}, message.tool_inputs)));
  if (message.tool_outputs) parts.push(h("details", { open: true }, h("summary", {}, "Tool outputs"), h("pre", {}, message.tool_outputs)));
  for (const attachment of message.attachments || []) parts.push(attachmentView(attachment));
  if (message.feedback) {
    parts.push(h("p", { class: `feedback feedback-${message.feedback.rating}` },
      `Feedback: ${message.feedback.rating}`, message.feedback.feedback_text ? ` — ${message.feedback.feedback_text}` : ""));
  }
  return parts;
}

function messageHeader(message) {
  return h("header", { class: "message-header" },
    h("span", { class: `role role-${message.role}` }, message.role),
    h("span", {}, `#${message.seq}`),
    message.tool_name ? h("span", { class: "tool-name" }, `${message.content_type.replace("_", " ")}: ${message.tool_name}`) : null,
    message.tool_status ? h("span", {}, message.tool_status) : null,
    message.token_count != null ? h("span", {}, `${message.token_count} tokens`) : null,
    h("time", { datetime: message.timestamp }, message.timestamp));
}

function messageActions(state, message) {
  const button = (label, handler) => h("button", { type: "button", class: "button small secondary", onclick: () => handler(state, message) },
    label, h("span", { class: "visually-hidden" }, ` message ${message.seq}`));
  const writable = state.session.status !== "terminated";
  return h("div", { class: "message-actions" },
    writable ? button("Rewind to here", rewindTo) : null,
    button("Fork from here", forkFrom),
    writable ? button("Redact", redact) : null,
    button("Feedback", feedback));
}

function messageItem(state, message) {
  return h("article", { class: `message message-${message.role}`, id: `message-${message.seq}`, "aria-label": `Message ${message.seq}, ${message.role}` },
    messageHeader(message), ...messageBody(message), messageActions(state, message));
}

function transcript(state) {
  const rows = transcriptRows(state.messages, state.session.summary_through_seq);
  const items = rows.map((row) => {
    if (row.kind === "checkpoint") {
      return h("li", {}, h("div", { class: "checkpoint", role: "note" },
        `Summary checkpoint: the summary covers messages 0 to ${row.through}; the context starts after it.`));
    }
    if (row.kind === "tool") {
      return h("li", { class: "tool-pair" }, messageItem(state, row.call), messageItem(state, row.result));
    }
    return h("li", {}, messageItem(state, row.message));
  });
  return h("section", { "aria-labelledby": "transcript-title" },
    h("h2", { id: "transcript-title" }, `Transcript (${state.messages.length} message${state.messages.length === 1 ? "" : "s"})`),
    state.truncated ? h("p", { class: "notice" }, `Showing the first ${state.messages.length} messages.`) : null,
    state.messages.length ? h("ol", { class: "transcript" }, ...items) : h("p", {}, "No messages yet."));
}

function sessionActions(state) {
  const { session } = state;
  const buttons = [];
  if (session.status === "archived") buttons.push(h("button", { type: "button", class: "button secondary", onclick: () => setStatus(state, "active") }, "Reactivate"));
  else if (session.status !== "terminated") buttons.push(h("button", { type: "button", class: "button secondary", onclick: () => setStatus(state, "archived") }, "Archive"));
  if (session.status !== "terminated") buttons.push(h("button", { type: "button", class: "button warning", onclick: () => terminate(state) }, "Terminate"));
  buttons.push(h("button", { type: "button", class: "button secondary", onclick: () => exportSession(state) }, "Export"));
  buttons.push(h("button", { type: "button", class: "button warning", onclick: () => purge(state) }, "Purge"));
  return h("div", { class: "button-group session-actions", role: "group", "aria-label": "Session actions" }, ...buttons);
}

async function act(state, work, done) {
  try {
    await work();
  } catch (error) {
    reportError(main, error);
    return;
  }
  announce(done);
  await renderSession(state.session.session_id, done);
}

async function setStatus(state, status) {
  const archive = status === "archived";
  const ok = await confirmAction({
    title: archive ? "Archive this session?" : "Reactivate this session?",
    text: archive ? "An archived session is read-only until it is reactivated." : "The session takes messages again.",
    action: archive ? "Archive" : "Reactivate",
  });
  if (!ok) return;
  await act(state, () => api("PATCH", sessionPath(state.session.session_id), { body: { status }, ifMatch: state.session.version }),
    archive ? "Session archived" : "Session reactivated");
}

async function exportSession(state) {
  // The export file (NDJSON, attachments by reference) saved by the browser: fetched with the
  // key (a link could not carry it), handed to a download as a blob.
  const id = state.session.session_id;
  let text;
  try {
    const response = await fetch(new URL(`${sessionPath(id)}/export`, API_ROOT), {
      headers: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}`, "X-Namespace": sessionStorage.getItem(NAMESPACE) },
      cache: "no-store",
    });
    text = await response.text();
    if (!response.ok) throw new ApiError(response.status, JSON.parse(text).error);
  } catch (error) {
    reportError(main, error instanceof ApiError ? error : new Error(`The export failed: ${error.message}`));
    return;
  }
  const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" })), download: `${id}.ndjson` });
  document.body.append(link);
  link.click();
  link.remove();
  announce(`Exported ${id}`);
}

async function terminate(state) {
  const ok = await confirmAction({ title: "Terminate this session?", text: "A terminated session is read-only for good; it is deleted after its retention.", action: "Terminate" });
  if (!ok) return;
  await act(state, () => api("DELETE", sessionPath(state.session.session_id)), "Session terminated");
}

async function purge(state) {
  const ok = await confirmAction({ title: "Purge this session?", text: "The session, every message and every file are deleted now, for good.", action: "Purge" });
  if (!ok) return;
  try {
    await api("DELETE", sessionPath(state.session.session_id), { query: { purge: "true" } });
  } catch (error) {
    reportError(main, error);
    return;
  }
  stopRefresh();
  show(h("h1", {}, "Session purged"),
    h("div", { class: "notice", role: "status" }, `Session ${state.session.session_id} and everything in it were deleted.`),
    h("p", {}, h("a", { href: LIST }, "Back to the sessions")));
  main.focus();
}

async function rewindTo(state, message) {
  const after = state.session.message_count - message.seq - 1;
  if (after <= 0) {
    reportError(main, new Error(`Message ${message.seq} is the last one: there is nothing after it to remove`));
    return;
  }
  const ok = await confirmAction({
    title: `Rewind to message ${message.seq}?`,
    text: `The ${after} message${after === 1 ? "" : "s"} after it (and their files) are removed for good.`,
    action: "Rewind",
  });
  if (!ok) return;
  await act(state, () => api("DELETE", `${sessionPath(state.session.session_id)}/messages`,
    { query: { from_seq: message.seq + 1 }, ifMatch: state.session.message_count }), `Rewound to message ${message.seq}`);
}

async function forkFrom(state, message) {
  const name = h("input", { name: "session_name", autocomplete: "off" });
  const values = await confirmAction({
    title: `Fork from message ${message.seq}?`,
    text: `A new session gets this one's configuration and messages 0 to ${message.seq}.`,
    action: "Fork",
    fields: [field("Name of the new session (optional)", name)],
  });
  if (!values) return;
  const body = { through_seq: message.seq };
  if (values.session_name.trim()) body.session_name = values.session_name.trim();
  try {
    const child = await api("POST", `${sessionPath(state.session.session_id)}/fork`, { body });
    window.location.assign(sessionHref(child.session_id));
  } catch (error) {
    reportError(main, error);
  }
}

async function redact(state, message) {
  const text = h("textarea", { name: "content", rows: "3" }, "[redacted]");
  const files = h("input", { type: "checkbox", name: "drop_files", checked: true });
  const fields = [field("Replacement text", text)];
  if ((message.attachments || []).length) {
    fields.push(h("div", { class: "field checkbox" }, files, h("label", { for: (files.id = `drop-${message.seq}`) }, "Remove its files too")));
  }
  const values = await confirmAction({
    title: `Redact message ${message.seq}?`,
    text: "Its content is replaced for good; the rest of the conversation stays.",
    action: "Redact",
    fields,
  });
  if (!values) return;
  const patch = { content: values.content, metadata: { redacted: true } };
  if (values.drop_files) patch.attachments = [];
  await act(state, () => api("PATCH", `${sessionPath(state.session.session_id)}/messages/${message.seq}`, { body: patch }),
    `Message ${message.seq} redacted`);
}

async function feedback(state, message) {
  const rating = h("select", { name: "rating" }, h("option", { value: "positive" }, "Positive"), h("option", { value: "negative" }, "Negative"));
  const note = h("textarea", { name: "feedback_text", rows: "2" });
  const values = await confirmAction({
    title: `Feedback on message ${message.seq}`,
    text: "Feedback on a message replaces any given before.",
    action: "Save feedback",
    fields: [field("Rating", rating), field("Comment (optional)", note)],
  });
  if (!values) return;
  const body = { message_id: message.message_id, rating: values.rating };
  if (values.feedback_text.trim()) body.feedback_text = values.feedback_text.trim();
  await act(state, () => api("POST", `${sessionPath(state.session.session_id)}/feedback`, { body }), "Feedback saved");
}

let refreshTimer = null;

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function renderSession(sessionId, notice) {
  stopRefresh();
  let state;
  try {
    state = await loadSession(sessionId);
  } catch (error) {
    show(h("h1", {}, "Session"), h("p", {}, h("a", { href: LIST }, "Back to the sessions")));
    reportError(main, error);
    return;
  }
  document.title = `${state.session.session_name || state.session.session_id} — Agent Sessions console`;
  show(
    h("nav", { class: "breadcrumbs", "aria-label": "Breadcrumb" }, h("a", { href: LIST }, "Sessions")),
    h("h1", {}, state.session.session_name || state.session.session_id),
    h("p", { class: "session-id" }, "Session id: ", h("code", {}, state.session.session_id)),
    notice ? h("div", { class: "notice", role: "status" }, notice) : null,
    sessionActions(state),
    sessionDetails(state.session),
    transcript(state),
  );
  // Live: a change by anyone (a new message, a status, a correction) redraws the page.
  refreshTimer = setInterval(async () => {
    if (document.getElementById("confirm").open) return;
    try {
      const now = await api("GET", sessionPath(sessionId));
      if (now.version !== state.session.version || now.message_count !== state.session.message_count) {
        const added = now.message_count - state.session.message_count;
        await renderSession(sessionId, added > 0 ? `${added} new message${added === 1 ? "" : "s"}` : "The session changed");
      }
    } catch {
      // a failed poll is tried again at the next tick
    }
  }, REFRESH_MS);
}

// --- start -----------------------------------------------------------------------------------

function start() {
  const signOutButton = document.getElementById("sign-out");
  if (!signedIn()) {
    signOutButton.hidden = true;
    document.getElementById("signed-in").textContent = "";
    renderSignIn();
    return;
  }
  signOutButton.hidden = false;
  signOutButton.onclick = signOut;
  document.getElementById("signed-in").textContent = `Namespace ${sessionStorage.getItem(NAMESPACE)}`;
  const where = route(window.location.pathname.slice(CONSOLE_ROOT.pathname.length));
  if (where.view === "session") renderSession(where.sessionId);
  else renderList();
}

start();
