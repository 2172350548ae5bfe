/*
 * tasklight dashboard.
 *
 * Safety: every string that comes from a task (title, message, log lines,
 * metadata, errors, results) reaches the page as text: textContent,
 * createTextNode, or an attribute value. Nothing from a task is parsed as
 * HTML. The daemon's Content-Security-Policy allows scripts only from its
 * own files, so not even an injected handler could run.
 *
 * Data flow: one EventSource on /api/events (every event but task.log and
 * task.progress) keeps the page live; a second one carries task.progress
 * for the tasks on this page only (?task=...), reopened when the page
 * changes, so progress of the thousands of tasks not shown never reaches
 * the browser. Incoming events only record the newest version of each task;
 * a requestAnimationFrame callback, at most ten times a second, applies them
 * to the cards, so a burst of a thousand progress events costs one layout.
 * It redraws at once only the cards on screen (and any whose state changed);
 * the others catch up a few at a time, or when scrolled into view. A text
 * that changes is edited in its Text node, and a page change reuses the
 * cards it has, so a render restyles and lays out little. The list is
 * a page of at most PAGE_SIZE cards (cursor pagination), so the DOM stays
 * small whatever the store holds. When the stream drops it reconnects with
 * backoff and resumes from the last event id; a `reset` (the daemon
 * restarted, or the gap is too old) refetches the page.
 */
"use strict";

const PAGE_SIZE = 50;
/* Each stream is an HTTP/1.1 connection and browsers allow 6 per host: the
 * events, the page's progress, two live logs, and two left for requests. */
const LIVE_LOG_STREAMS = 2;
const LOG_LINES_LIVE = 50;
const LOG_DOM_MAX = 2000;
const STATES = ["running", "queued", "paused", "completed", "failed", "cancelled"];
const FINAL = new Set(["completed", "failed", "cancelled"]);
const STATE_LABEL = {
  queued: "Queued", running: "Running", paused: "Paused",
  completed: "Completed", failed: "Failed", cancelled: "Cancelled",
};
const STATE_ICON = {
  queued: "i-circle", running: "i-dot", paused: "i-pause",
  completed: "i-check", failed: "i-x", cancelled: "i-square",
};
const ACTIONS = {
  queued: ["cancel", "remove"],
  running: ["pause", "cancel"],
  paused: ["resume", "cancel"],
  completed: ["remove"],
  failed: ["retry", "remove"],
  cancelled: ["retry", "remove"],
};
const ACTION_INFO = {
  pause: { label: "Pause", icon: "i-pause" },
  resume: { label: "Resume", icon: "i-play" },
  cancel: { label: "Cancel", icon: "i-stop", danger: true, confirm: true },
  retry: { label: "Retry", icon: "i-retry" },
  remove: { label: "Remove", icon: "i-trash", danger: true, confirm: true },
};
const TASK_EVENTS = [
  "task.created", "task.started", "task.progress", "task.substep", "task.paused",
  "task.resumed", "task.completed", "task.failed", "task.cancelled",
  "task.retrying", "task.updated",
];
/* Events after which the per-state counts may have changed. */
const COUNT_EVENTS = new Set([
  "task.created", "task.started", "task.paused", "task.resumed", "task.completed",
  "task.failed", "task.cancelled", "task.retrying", "task.deleted",
]);
const ID_PREFIX = /^\{"id":(\d+),/;
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

const S = {
  filter: { state: "", kind: "", group: "", q: "" },
  page: { cursor: 0, stack: [], next: null },
  tasks: new Map(),     /* id -> task, the tasks on this page */
  order: [],            /* their ids, newest first */
  cards: new Map(),     /* id -> card */
  stale: new Set(),     /* cards whose task changed since they were drawn */
  fill: [],             /* cards of a new page still to draw (fillStep) */
  fillQueued: false,
  pending: new Map(),   /* id -> newest task not yet rendered */
  fresh: new Set(),     /* ids created while we watched */
  removals: new Set(),  /* ids deleted */
  leaving: new Map(),   /* id -> timer: no longer matches the filter */
  watchers: new Set(),  /* Maps recording events while a fetch is in flight */
  activity: new Map(),  /* id -> [{ts, text}] seen while we watched */
  logStreams: [],       /* cards with a live log stream, oldest first */
  kinds: new Set(),
  counts: null,
  es: null,
  lastEventId: "",
  backoff: 500,
  retryTimer: 0,
  conn: "connecting",
  lastData: 0,
  rafPending: false,
  tickDue: false,
  farTimer: 0,
  lastFlush: 0,
  fetchSeq: 0,
  countsTimer: 0,
  countsAt: 0,
  refillTimer: 0,
  view: "tasks",
  notify: false,
  unauthorized: false,
};

/* ---- formatting ---------------------------------------------------------- */

function fmtDur(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${sec}s`;
}

/* Durations that may be short (finished tasks, charts): 420 ms, 3.4s. */
function fmtDurFine(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  if (s > 0 && s < 1) return `${Math.max(1, Math.round(s * 1000))} ms`;
  if (s > 0 && s < 10) return `${(Math.round(s * 10) / 10).toFixed(1)}s`;
  return fmtDur(s);
}

function fmtClock(iso, withDate) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  const today = new Date();
  if (!withDate && d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

function fmtNum(n) {
  if (n === null || n === undefined || !isFinite(n)) return "";
  if (Number.isInteger(n)) return n.toLocaleString();
  return (Math.round(n * 100) / 100).toLocaleString();
}

function fmtBytes(n) {
  if (n === null || n === undefined || !isFinite(n)) return "";
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? Math.round(n) : n < 100 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

const BYTE_UNITS = new Set(["B", "b", "byte", "bytes", "Bytes"]);

function fmtAmount(t) {
  const cur = t.current, total = t.total, unit = t.unit || "";
  if (cur === null && total === null) return "";
  if (BYTE_UNITS.has(unit)) {
    return total !== null ? `${fmtBytes(cur ?? 0)} / ${fmtBytes(total)}` : fmtBytes(cur);
  }
  const tail = unit ? ` ${unit}` : "";
  if (total === null) return `${fmtNum(cur)}${tail}`;
  return `${fmtNum(cur ?? 0)}/${fmtNum(total)}${tail}`;
}

function fmtPct(p) {
  if (p === null || p === undefined) return "";
  return p > 0 && p < 10 && p % 1 ? `${p.toFixed(1)}%` : `${Math.floor(p)}%`;
}

function ago(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 2) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function shellQuote(a) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

function taskTitle(t) {
  if (t.title) return t.title;
  if (t.command && t.command.argv) return t.command.argv.join(" ");
  return `Task ${t.id}`;
}

/* Splits a command line like a POSIX shell does for words: whitespace,
 * single quotes (literal), double quotes (\ escapes " \ $ `), backslash. */
function shellSplit(s) {
  const out = [];
  let cur = "", word = false, i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new Error("unclosed single quote");
      cur += s.slice(i + 1, j); word = true; i = j + 1;
    } else if (ch === '"') {
      i++; word = true;
      for (;;) {
        if (i >= s.length) throw new Error("unclosed double quote");
        const c = s[i];
        if (c === '"') { i++; break; }
        if (c === "\\" && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) { cur += s[i + 1]; i += 2; continue; }
        cur += c; i++;
      }
    } else if (ch === "\\") {
      if (i + 1 >= s.length) throw new Error("trailing backslash");
      if (s[i + 1] !== "\n") { cur += s[i + 1]; word = true; }
      i += 2;
    } else if (/\s/.test(ch)) {
      if (word) { out.push(cur); cur = ""; word = false; }
      i++;
    } else {
      cur += ch; word = true; i++;
    }
  }
  if (word) out.push(cur);
  return out;
}

/* ---- small DOM helpers (text only) --------------------------------------- */

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function icon(id, cls) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", cls || "ico");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#${id}`);
  svg.append(use);
  return svg;
}

/* Sets a node's text. A change from one non-empty text to another edits
 * the node's Text child in place: no node is created, and styles that
 * depend on children (:empty, the "•" separators) need no recalculation.
 * To or from empty, the child list changes as with textContent. */
function setText(node, text) {
  text = text === null || text === undefined ? "" : String(text);
  const f = node.firstChild;
  if (f !== null && f.nodeType === 3 && f.nextSibling === null) {
    if (f.data === text) return;
    if (text !== "") { f.data = text; return; }
  } else if (node.textContent === text) return;
  node.textContent = text;
}

function toast(text, kind) {
  const t = el("div", `toast${kind ? ` ${kind}` : ""}`, text);
  $("toasts").append(t);
  setTimeout(() => t.remove(), kind === "bad" ? 7000 : 3500);
}

/* ---- API ------------------------------------------------------------------ */

async function api(path, opts = {}) {
  const init = { credentials: "same-origin", method: opts.method || "GET", headers: {} };
  if (opts.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, init);
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (r.status === 401) showUnauthorized();
  if (!r.ok) {
    const msg = (body && body.error && body.error.message) || `HTTP ${r.status}`;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return body;
}

function showUnauthorized() {
  if (S.unauthorized) return;
  S.unauthorized = true;
  const p = $("empty");
  p.hidden = false;
  p.textContent = "Not authorized. Open the address that `tl serve` printed (it carries the token) to sign in.";
}

/* ---- connection ------------------------------------------------------------ */

function setConn(state) {
  S.conn = state;
  $("conn").dataset.state = state;
  setText($("conn-text"), state === "live" ? "Live" : state === "reconnecting" ? "Reconnecting…" : "Connecting…");
  tickUpdated();
}

function tickUpdated() {
  const u = $("updated");
  if (!S.lastData) { setText(u, ""); return; }
  setText(u, S.conn === "live" ? `· Updated ${ago(S.lastData)}` : `· last update ${ago(S.lastData)}`);
}

function connect() {
  clearTimeout(S.retryTimer);
  if (S.es) S.es.close();
  const p = new URLSearchParams({ type: "-task.log,-task.progress" });
  if (S.lastEventId) p.set("last_event_id", S.lastEventId);
  const es = new EventSource(`/api/events?${p}`);
  S.es = es;
  es.onopen = () => { S.backoff = 500; setConn("live"); };
  es.onerror = () => {
    if (S.es !== es) return;
    es.close();
    S.es = null;
    setConn("reconnecting");
    const delay = S.backoff * (0.8 + Math.random() * 0.4);
    S.backoff = Math.min(S.backoff * 2, 15000);
    S.retryTimer = setTimeout(connect, delay);
  };
  es.addEventListener("hello", (e) => {
    const d = JSON.parse(e.data);
    if (e.lastEventId) S.lastEventId = e.lastEventId;
    setConn("live");
    if (!d.resumed) refetchAll();
  });
  es.addEventListener("reset", (e) => {
    S.lastEventId = e.lastEventId || "";
    refetchAll();
  });
  for (const name of TASK_EVENTS) es.addEventListener(name, onTaskEvent);
  es.addEventListener("task.deleted", (e) => {
    S.lastEventId = e.lastEventId || S.lastEventId;
    S.lastData = Date.now();
    const { id } = JSON.parse(e.data);
    S.removals.add(id);
    S.pending.delete(id);
    countsSoon();
    scheduleRender();
  });
}

function reconnectNow() {
  if (S.conn === "reconnecting") { S.backoff = 500; connect(); }
}

/* The progress of the tasks on this page, on its own stream. */
function syncProgress() {
  if (S.progTimer) return;
  S.progTimer = setTimeout(() => {
    S.progTimer = 0;
    const ids = S.order.filter((id) => !FINAL.has(S.tasks.get(id).state)).sort((a, b) => a - b);
    const key = ids.join(",");
    if (key === S.progKey && (S.progEs || !key)) return;
    if (S.progEs) S.progEs.close();
    S.progEs = null;
    const before = new Set(S.progKey ? S.progKey.split(",").map(Number) : []);
    const added = ids.filter((id) => !before.has(id));
    S.progKey = key;
    if (!key) return;
    const es = new EventSource(`/api/events?type=task.progress&task=${key}`);
    S.progEs = es;
    es.addEventListener("hello", () => {
      /* What moved before this stream opened: after a drop, the page; for
       * tasks new on the page, the tasks themselves. */
      if (S.progStale || added.length > 5) {
        const quiet = !S.progStale; /* a new page: only its values moved */
        S.progStale = false;
        loadPage(quiet);
        return;
      }
      for (const id of added) {
        api(`/api/tasks/${id}`).then((t) => { queueTask(t); scheduleRender(); }).catch(() => {});
      }
    });
    es.addEventListener("task.progress", onTaskEvent);
    es.onerror = () => {
      if (S.progEs !== es) return;
      es.close();
      S.progEs = null;
      S.progStale = true;
      setTimeout(() => { if (!S.progEs) { S.progKey = ""; syncProgress(); } }, Math.min(S.backoff, 5000));
    };
  }, 250);
}

function onTaskEvent(e) {
  if (e.lastEventId && e.target === S.es) S.lastEventId = e.lastEventId;
  S.lastData = Date.now();
  const type = e.type;
  if (COUNT_EVENTS.has(type)) countsSoon();
  /* Progress of a task that is not on this page cannot change the page:
   * skip it without parsing. */
  if (type === "task.progress" && S.watchers.size === 0) {
    const m = ID_PREFIX.exec(e.data);
    if (m && !S.tasks.has(Number(m[1]))) return;
  }
  const t = JSON.parse(e.data);
  for (const w of S.watchers) w.set(t.id, t);
  if (t.kind) S.kinds.add(t.kind);
  if (type === "task.created") S.fresh.add(t.id);
  if (type === "task.completed" || type === "task.failed") notifyFinished(type, t);
  if (S.tasks.has(t.id)) noteActivity(type, S.tasks.get(t.id), t);
  queueTask(t);
  scheduleRender();
}

/* ---- the page of tasks ---------------------------------------------------- */

function matches(t) {
  const f = S.filter;
  if (f.state && t.state !== f.state) return false;
  if (f.kind && t.kind !== f.kind) return false;
  if (f.group && t.group !== f.group) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    const hay = [t.title, t.message, t.command && t.command.argv && t.command.argv.join(" ")];
    if (!hay.some((h) => h && h.toLowerCase().includes(q))) return false;
  }
  return true;
}

/* Whether task id falls within this page's id range (newest first). */
function belongsHere(id) {
  if (S.page.cursor && id >= S.page.cursor) return false;
  if (S.order.length < PAGE_SIZE && S.page.next === null) return true;
  const min = S.order.length ? S.order[S.order.length - 1] : 0;
  return id > min;
}

/* Queues t for the next render unless what is queued for its task is
 * newer: the page hears of a task from several sources (the event
 * streams, answers to its own requests, refetches) whose order of arrival
 * is not the order of the changes, and a render comes at most every
 * RENDER_EVERY_MS, so an older answer arriving after a newer event must
 * not replace it. */
function queueTask(t) {
  const queued = S.pending.get(t.id);
  if (!queued || newer(t, queued)) S.pending.set(t.id, t);
}

/* Whether a is at least as new as b. RFC 3339 UTC stamps of one format
 * compare as strings; two changes within one millisecond tie, and then a
 * final state is the newer (a task never leaves one except by a retry,
 * which is a later change). */
function newer(a, b) {
  if (!b.updated_at || !a.updated_at) return true;
  if (a.updated_at !== b.updated_at) return a.updated_at > b.updated_at;
  return FINAL.has(a.state) || !FINAL.has(b.state);
}

/* At most ten renders a second: progress arrives faster than anyone reads
 * it, and each render costs the page a layout and a paint. */
const RENDER_EVERY_MS = 100;
/* Cards far from the viewport whose only change is progress are brought up
 * to date a few at a time: at most this long per render, each at most every
 * FAR_EVERY_MS (they stay right for find-in-page and screen readers without
 * costing every frame). Near cards, and any change of state, render at once. */
const FAR_BUDGET_MS = 1;
const FAR_EVERY_MS = 2000;

function scheduleRender() {
  if (S.rafPending) return;
  S.rafPending = true;
  const wait = RENDER_EVERY_MS - (performance.now() - S.lastFlush);
  if (wait > 0) setTimeout(() => requestAnimationFrame(flush), wait);
  else requestAnimationFrame(flush);
}

function flush() {
  S.rafPending = false;
  const now = performance.now();
  S.lastFlush = now;
  /* Whether the page's set of unfinished tasks may have changed. */
  let unfinishedChanged = S.removals.size > 0;
  for (const id of S.removals) removeCard(id);
  S.removals.clear();
  let shapeChanged = false;
  for (const t of S.pending.values()) {
    const have = S.tasks.get(t.id);
    if (have) {
      if (!newer(t, have)) continue;
      if (have.state !== t.state) unfinishedChanged = true;
      S.tasks.set(t.id, t);
      const c = S.cards.get(t.id);
      c.task = t;
      c.receivedAt = now;
      if (c.near || c.expanded || c.prev.state !== t.state) renderCard(c);
      else S.stale.add(c);
      if (matches(t)) cancelLeave(t.id);
      else scheduleLeave(t.id);
    } else if (matches(t) && belongsHere(t.id)) {
      insertCard(t);
      shapeChanged = true;
    }
  }
  S.pending.clear();
  if (S.tickDue) {
    S.tickDue = false;
    tickUpdated();
    tickCards();
  }
  renderFar(performance.now());
  if (shapeChanged) trimPage();
  S.fresh.clear();
  updateEmpty();
  if (shapeChanged || unfinishedChanged) syncProgress();
}

/* The far cards' turn: oldest first, within the budget. */
function renderFar(now) {
  if (!S.stale.size) return;
  let n = 0;
  for (const c of S.stale) {
    if (now - c.renderedAt < FAR_EVERY_MS) continue;
    if (n++ && performance.now() - now > FAR_BUDGET_MS) break;
    renderCard(c);
  }
  if (S.stale.size && !S.farTimer) {
    S.farTimer = setTimeout(() => { S.farTimer = 0; scheduleRender(); }, 500);
  }
}

function insertCard(t) {
  const c = makeCard(t);
  S.tasks.set(t.id, t);
  S.cards.set(t.id, c);
  let i = 0;
  while (i < S.order.length && S.order[i] > t.id) i++;
  S.order.splice(i, 0, t.id);
  const before = i + 1 < S.order.length ? S.cards.get(S.order[i + 1]).root : null;
  $("list").insertBefore(c.root, before);
  if (S.fresh.has(t.id)) {
    c.root.classList.add("fresh");
    setTimeout(() => c.root.classList.remove("fresh"), 1300);
  }
}

function removeCard(id) {
  const c = forgetCard(id);
  if (c) dropCardNode(c);
}

/* Takes a card that is no longer in the page's state out of the document. */
function dropCardNode(c) {
  onScreen.unobserve(c.root);
  c.root.remove();
}

/* Drops task id from the page's state; its card stays in the document. */
function forgetCard(id) {
  const c = S.cards.get(id);
  if (!c) return null;
  closeLogStream(c);
  S.stale.delete(c);
  S.cards.delete(id);
  S.tasks.delete(id);
  S.activity.delete(id);
  const i = S.order.indexOf(id);
  if (i >= 0) S.order.splice(i, 1);
  const timer = S.leaving.get(id);
  if (timer) { clearTimeout(timer); S.leaving.delete(id); }
  return c;
}

function trimPage() {
  while (S.order.length > PAGE_SIZE) removeCard(S.order[S.order.length - 1]);
  if (S.order.length === PAGE_SIZE || S.page.next !== null)
    S.page.next = S.order.length ? S.order[S.order.length - 1] : null;
  updatePager();
}

/* A task that no longer matches the filter (say it finished while the
 * page shows running tasks) stays a moment so its end is seen. */
function scheduleLeave(id) {
  if (S.leaving.has(id)) return;
  const c = S.cards.get(id);
  if (c) c.root.classList.add("leaving");
  S.leaving.set(id, setTimeout(() => {
    S.leaving.delete(id);
    removeCard(id);
    updateEmpty();
    refillSoon();
  }, 4000));
}

function cancelLeave(id) {
  const timer = S.leaving.get(id);
  if (!timer) return;
  clearTimeout(timer);
  S.leaving.delete(id);
  const c = S.cards.get(id);
  if (c) c.root.classList.remove("leaving");
}

function refillSoon() {
  if (S.order.length >= PAGE_SIZE || S.page.next === null || S.refillTimer) return;
  S.refillTimer = setTimeout(() => { S.refillTimer = 0; loadPage(); }, 1500);
}

function updateEmpty() {
  const empty = $("empty");
  if (S.unauthorized) return;
  empty.hidden = S.order.length > 0;
  if (!empty.hidden) {
    const f = S.filter;
    empty.textContent = f.state || f.kind || f.group || f.q ? "No tasks match these filters." :
      "No tasks yet. Start one with “New task” or `tl add -- CMD`.";
  }
}

function updatePager() {
  const first = S.page.stack.length === 0;
  $("prev-page").disabled = first;
  $("next-page").disabled = S.page.next === null;
  $("pager").hidden = first && S.page.next === null;
  const n = S.order.length;
  const from = S.page.stack.length * PAGE_SIZE;
  setText($("page-info"), n ? `${(from + 1).toLocaleString()}–${(from + n).toLocaleString()}${totalText()}` : "");
}

function totalText() {
  const f = S.filter;
  if (!S.counts || f.kind || f.group || f.q) return "";
  const total = f.state ? S.counts[f.state] : STATES.reduce((a, s) => a + (S.counts[s] || 0), 0);
  return total !== undefined ? ` of ${total.toLocaleString()}` : "";
}

/* quiet: the page is the one shown and only its tasks' values may have
 * moved (the progress stream just opened): when the same tasks come back,
 * they go through the render queue like events (cards on screen drawn at
 * once, the others a few at a time) instead of redrawing the page. */
async function loadPage(quiet) {
  const seq = ++S.fetchSeq;
  const seen = new Map();
  S.watchers.add(seen);
  const p = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const f = S.filter;
  if (f.state) p.set("state", f.state);
  if (f.kind) p.set("kind", f.kind);
  if (f.group) p.set("group", f.group);
  if (f.q) p.set("q", f.q);
  if (S.page.cursor) p.set("cursor", String(S.page.cursor));
  try {
    const data = await api(`/api/tasks?${p}`);
    if (seq !== S.fetchSeq) return;
    const list = data.tasks.map((t) => {
      const n = seen.get(t.id) || S.pending.get(t.id);
      return n && newer(n, t) ? n : t;
    });
    if (quiet && list.length === S.order.length && list.every((t, i) => t.id === S.order[i])) {
      for (const t of list) queueTask(t);
      scheduleRender();
    } else {
      setPage(list, data.next_cursor ?? null);
    }
    if (data.counts) setCounts(data.counts);
    S.lastData = Date.now();
    tickUpdated();
  } catch (e) {
    if (seq === S.fetchSeq && e.status !== 401) toast(`Could not load tasks: ${e.message}`, "bad");
  } finally {
    S.watchers.delete(seen);
  }
}

/* Shows list. Cards of tasks still shown stay where they are; cards of
 * tasks that left are given to the new ones, in place: a page change edits
 * the text of the cards the document has, rather than building fifty new
 * ones (style and layout for every element) and dropping the old. */
function setPage(list, next) {
  const keep = new Set(list.map((t) => t.id));
  const spare = new Set();
  for (const [id, c] of [...S.cards]) if (!keep.has(id)) { forgetCard(id); spare.add(c); }
  const box = $("list");
  let at = box.firstElementChild;
  S.order = [];
  S.fill.length = 0;
  for (const t of list) {
    S.pending.delete(t.id);
    const later = S.order.length >= PAGE_FIRST;
    let c = S.cards.get(t.id);
    if (c) {
      c.task = t;
      c.receivedAt = performance.now();
      if (later) fillLater(c);
      else renderCard(c);
      cancelLeave(t.id);
    } else {
      const here = at && cardOf.get(at);
      c = here && spare.has(here) ? here : spare.size ? spare.values().next().value : null;
      if (c) {
        spare.delete(c);
        rebindCard(c, t, later);
      } else {
        c = makeCard(t);
      }
      S.cards.set(t.id, c);
    }
    S.tasks.set(t.id, t);
    if (t.kind) S.kinds.add(t.kind);
    S.order.push(t.id);
    /* Everything before `at` is placed; a node moves only if out of order. */
    if (c.root === at) at = at.nextElementSibling;
    else box.insertBefore(c.root, at);
  }
  for (const c of spare) dropCardNode(c);
  S.page.next = next;
  updatePager();
  updateEmpty();
  updateKindOptions();
  syncProgress();
}

function refetchAll() {
  loadPage();
  countsSoon(0);
  if (S.view === "history") loadHistory();
}

/* ---- counts ------------------------------------------------------------------ */

function buildCounts() {
  const box = $("counts");
  const all = el("button", "count");
  all.type = "button";
  all.dataset.state = "";
  all.append(el("span", "lbl", "All"), el("span", "n", "–"));
  box.append(all);
  for (const s of STATES) {
    const b = el("button", "count");
    b.type = "button";
    b.dataset.state = s;
    b.append(icon(STATE_ICON[s]), el("span", "lbl", STATE_LABEL[s]), el("span", "n", "–"));
    box.append(b);
  }
  box.addEventListener("click", (e) => {
    const b = e.target.closest("button.count");
    if (!b) return;
    setFilter({ state: b.dataset.state });
  });
  markCounts();
}

function markCounts() {
  for (const b of $("counts").children)
    b.setAttribute("aria-pressed", String(b.dataset.state === S.filter.state));
}

let countsLiveAt = 0;
function setCounts(counts) {
  S.counts = counts;
  let total = 0;
  for (const b of $("counts").children) {
    const s = b.dataset.state;
    const n = s ? counts[s] || 0 : STATES.reduce((a, k) => a + (counts[k] || 0), 0);
    if (!s) total = n;
    setText(b.querySelector(".n"), n.toLocaleString());
    b.setAttribute("aria-label", `${s ? STATE_LABEL[s] : "All"}: ${n}`);
  }
  /* For screen readers, at most every 5 s. */
  if (Date.now() - countsLiveAt > 5000) {
    countsLiveAt = Date.now();
    setText($("counts-live"), `${total} tasks: ${STATES.map((s) => `${counts[s] || 0} ${s}`).join(", ")}`);
  }
  updatePager();
}

function countsSoon(delay) {
  if (S.countsTimer) return;
  const wait = delay ?? Math.max(0, 1000 - (Date.now() - S.countsAt));
  S.countsTimer = setTimeout(async () => {
    S.countsTimer = 0;
    S.countsAt = Date.now();
    try {
      const st = await api("/api/stats");
      setCounts(st.counts);
      updateGroupOptions(st.groups || []);
    } catch (_) { /* the stream's error handling shows the state */ }
  }, wait);
}

function updateGroupOptions(groups) {
  const sel = $("f-group");
  const names = groups.map((g) => g.name).sort();
  const have = [...sel.options].slice(1).map((o) => o.value);
  if (names.join("\n") === have.join("\n")) return;
  const cur = sel.value;
  sel.replaceChildren(new Option("any", ""), ...names.map((n) => new Option(n, n)));
  if (cur && !names.includes(cur)) sel.append(new Option(cur, cur));
  sel.value = cur;
}

function updateKindOptions() {
  const dl = $("kinds");
  if (dl.children.length === S.kinds.size) return;
  dl.replaceChildren(...[...S.kinds].sort().slice(0, 200).map((k) => new Option(k)));
}

/* ---- filters and paging ----------------------------------------------------- */

function setFilter(change) {
  Object.assign(S.filter, change);
  S.page = { cursor: 0, stack: [], next: null };
  markCounts();
  loadPage();
}

function bindFilters() {
  let timer = 0;
  $("f-text").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => setFilter({ q: e.target.value.trim() }), 250);
  });
  $("f-kind").addEventListener("change", (e) => setFilter({ kind: e.target.value.trim() }));
  $("f-group").addEventListener("change", (e) => setFilter({ group: e.target.value }));
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("next-page").addEventListener("click", () => {
    if (S.page.next === null) return;
    S.page.stack.push(S.page.cursor);
    turnPage(S.page.next);
  });
  $("prev-page").addEventListener("click", () => {
    if (!S.page.stack.length) return;
    turnPage(S.page.stack.pop());
  });
}

/* Goes to the top of the list first, then fetches the page: the cards
 * content-visibility skipped up there are unlocked by the frame of the
 * jump and drawn in the next, and the new page's text is drawn in a later
 * one, instead of all in one frame (over 50 ms on a busy two-core
 * machine). */
function turnPage(cursor) {
  S.page.cursor = cursor;
  $("list").setAttribute("aria-busy", "true");
  $("main").focus();
  afterFrames(2, () => loadPage().then(endBusyUnlessFilling));
}

/* Runs fn in a task after the rendering of the next n frames. */
function afterFrames(n, fn) {
  if (n === 0) setTimeout(fn);
  else requestAnimationFrame(() => afterFrames(n - 1, fn));
}

function endBusyUnlessFilling() {
  if (!S.fillQueued) $("list").removeAttribute("aria-busy");
}

/* ---- cards ---------------------------------------------------------------------- */

const cardTpl = () => $("card-tpl").content.firstElementChild;

const cardOf = new WeakMap(); /* card element -> card */

/* Cards near the viewport (class vis) are the ones that animate, and the
 * ones kept up to date as events arrive; a card coming near catches up. */
const onScreen = new IntersectionObserver((entries) => {
  for (const en of entries) {
    const c = cardOf.get(en.target);
    if (!c || c.near === en.isIntersecting) continue;
    c.near = en.isIntersecting;
    en.target.classList.toggle("vis", c.near);
    if (c.near && S.stale.has(c)) renderCard(c);
    else if (c.near && c.task.state === "running") renderTimes(c);
  }
}, { rootMargin: "0px" });

function makeCard(t) {
  const root = cardTpl().cloneNode(true);
  const q = (s) => root.querySelector(s);
  const c = {
    root, task: t, receivedAt: performance.now(), renderedAt: 0, near: false, expanded: false, prev: {},
    status: q(".status use"), title: q(".title"), stateChip: q(".chip.state"),
    kind: q(".chip.kind"), group: q(".chip.group"), idChip: q(".chip.id"),
    actions: q(".actions"), bar: q(".bar"), fill: q(".fill"), pct: q(".pct"),
    time: q(".time"), eta: q(".eta"), amount: q(".amount"), message: q(".message"),
    error: q(".error-line"), toggle: q(".toggle"), details: q(".details"), d: null,
  };
  cardOf.set(root, c);
  setCardIds(c, t.id);
  c.toggle.addEventListener("click", () => toggleDetails(c));
  c.actions.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) act(c.task, b.dataset.action, b);
  });
  renderCard(c);
  onScreen.observe(root);
  return c;
}

function setCardIds(c, id) {
  const tid = `task-${id}`;
  c.root.id = tid;
  c.title.id = `${tid}-title`;
  c.root.setAttribute("aria-labelledby", c.title.id);
  c.details.id = `${tid}-details`;
  c.toggle.setAttribute("aria-controls", c.details.id);
}

/* Card c, whose task left the page, now shows task t (drawn now, or by
 * the page's fill when `later`). */
function rebindCard(c, t, later) {
  if (c.expanded) toggleDetails(c);
  c.root.classList.remove("fresh", "leaving");
  c.task = t;
  c.prev = {};
  c.receivedAt = performance.now();
  setCardIds(c, t.id);
  if (later) fillLater(c);
  else renderCard(c);
}

/* A page change draws the first PAGE_FIRST cards (the ones on screen after
 * it) at once and the rest a few per frame, PAGE_BUDGET_MS each: drawing
 * all fifty in one go made a frame of over 50 ms on a busy two-core
 * machine. The list says aria-busy until it is whole. */
const PAGE_FIRST = 12;
const PAGE_BUDGET_MS = 4;

function fillLater(c) {
  if (!S.fillQueued) {
    S.fillQueued = true;
    $("list").setAttribute("aria-busy", "true");
    requestAnimationFrame(fillStep);
  }
  S.fill.push(c);
}

function fillStep() {
  S.fillQueued = false;
  const t0 = performance.now();
  while (S.fill.length && performance.now() - t0 < PAGE_BUDGET_MS) {
    const c = S.fill.shift();
    if (S.cards.get(c.task.id) === c) renderCard(c);
  }
  if (S.fill.length) {
    S.fillQueued = true;
    requestAnimationFrame(fillStep);
  } else {
    $("list").removeAttribute("aria-busy");
  }
}

function renderCard(c) {
  const t = c.task, p = c.prev;
  c.renderedAt = performance.now();
  S.stale.delete(c);
  const root = c.root;
  if (p.state !== t.state) {
    root.dataset.state = t.state;
    c.status.setAttribute("href", `#${STATE_ICON[t.state] || "i-circle"}`);
    p.state = t.state;
  }
  setText(c.title, taskTitle(t));
  let stateText = STATE_LABEL[t.state] || t.state;
  if (t.cancel_requested && !FINAL.has(t.state)) stateText += " · cancel requested";
  else if (t.pause_requested && t.state === "running") stateText += " · pause requested";
  setText(c.stateChip, stateText);
  setText(c.kind, t.kind || "");
  setText(c.group, t.group && t.group !== "default" ? t.group : "");
  setText(c.idChip, `#${t.id}`);

  const actKey = `${t.state}`;
  if (p.actKey !== actKey) { renderActions(c); p.actKey = actKey; }

  const known = t.progress !== null && t.progress !== undefined;
  const pct = t.state === "completed" ? 100 : known ? Math.max(0, Math.min(100, t.progress)) : null;
  const indeterminate = pct === null;
  if (p.indeterminate !== indeterminate) {
    c.bar.classList.toggle("indeterminate", indeterminate);
    p.indeterminate = indeterminate;
  }
  if (p.pct !== pct) {
    if (pct === null) {
      c.bar.removeAttribute("aria-valuenow");
      c.fill.style.width = "";
    } else {
      c.bar.setAttribute("aria-valuenow", String(Math.round(pct)));
      c.fill.style.width = `${pct}%`;
    }
    p.pct = pct;
  }
  const label = `${taskTitle(t)}: ${pct === null ? "progress unknown" : fmtPct(pct)}`;
  if (p.label !== label) { c.bar.setAttribute("aria-label", label); p.label = label; }
  setText(c.pct, pct === null ? (t.state === "running" ? "working…" : "") : fmtPct(pct));
  renderTimes(c);
  setText(c.amount, fmtAmount(t));
  setText(c.message, t.message || "");
  let err = "";
  if (t.state === "failed" || t.state === "cancelled") {
    err = t.error || "";
    if (!err && t.state === "failed" && t.exit_code !== null && t.exit_code !== undefined && t.exit_code !== 0) err = `exited with code ${t.exit_code}`;
  }
  setText(c.error, err);
  if (c.expanded) renderDetails(c);
}

/* Elapsed and ETA move between events: extrapolated from the last one. */
function renderTimes(c) {
  const t = c.task;
  const since = (performance.now() - c.receivedAt) / 1000;
  let time = "", eta = "";
  if (t.state === "running" || t.state === "paused") {
    const elapsed = (t.elapsed_s ?? 0) + (t.state === "running" ? since : 0);
    time = fmtDur(elapsed);
    if (t.estimated_total_s) time += ` / ${fmtDur(Math.max(t.estimated_total_s, elapsed))}`;
    if (t.state === "paused") eta = "paused";
    else if (t.eta_s !== null && t.eta_s !== undefined) eta = `~${fmtDur(Math.max(0, t.eta_s - since))} remaining`;
  } else if (t.state === "queued") {
    time = t.run_after ? `retry at ${fmtClock(t.run_after)}` : `queued at ${fmtClock(t.created_at)}`;
  } else {
    time = t.elapsed_s !== null && t.elapsed_s !== undefined ? fmtDurFine(t.elapsed_s) : "";
    if (t.finished_at) eta = `Finished at ${fmtClock(t.finished_at)}`;
  }
  setText(c.time, time);
  setText(c.eta, eta);
}

function renderActions(c) {
  const t = c.task;
  const btns = (ACTIONS[t.state] || []).map((a) => {
    const info = ACTION_INFO[a];
    const b = el("button", `act${info.danger ? " danger" : ""}`);
    b.type = "button";
    b.dataset.action = a;
    b.setAttribute("aria-label", `${info.label} task ${t.id}`);
    b.append(icon(info.icon), el("span", null, info.label));
    return b;
  });
  c.actions.replaceChildren(...btns);
}

async function act(t, action, btn) {
  const info = ACTION_INFO[action];
  if (info.confirm) {
    const what = action === "cancel"
      ? (t.source === "command" ? "Its processes get SIGTERM, then SIGKILL after a grace period." : "Its reporter is asked to stop.")
      : "The task and its log are deleted for good.";
    const ok = await confirmDialog(`${info.label} task #${t.id}?`, `“${taskTitle(t)}”. ${what}`, info.label);
    if (!ok) return;
  }
  btn.disabled = true;
  try {
    if (action === "remove") {
      await api(`/api/tasks/${t.id}`, { method: "DELETE" });
      S.removals.add(t.id);
      scheduleRender();
      toast(`Removed task #${t.id}`);
    } else {
      const nt = await api(`/api/tasks/${t.id}/${action}`, { method: "POST" });
      queueTask(nt);
      scheduleRender();
    }
    countsSoon(0);
  } catch (e) {
    toast(`${info.label} failed: ${e.message}`, "bad");
  } finally {
    btn.disabled = false;
  }
}

function confirmDialog(title, text, yesLabel) {
  const d = $("confirm-dialog");
  setText($("confirm-title"), title);
  setText($("confirm-text"), text);
  setText($("confirm-yes"), yesLabel || "Confirm");
  d.returnValue = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "yes"), { once: true });
    d.showModal();
    $("confirm-no").focus();
  });
}

/* ---- details --------------------------------------------------------------------- */

function toggleDetails(c) {
  c.expanded = !c.expanded;
  c.toggle.setAttribute("aria-expanded", String(c.expanded));
  setText(c.toggle.querySelector("span"), c.expanded ? "Hide details" : "Show details");
  c.details.hidden = !c.expanded;
  if (c.expanded) {
    buildDetails(c);
    renderDetails(c);
    openLogStream(c);
  } else {
    closeLogStream(c);
    c.details.replaceChildren();
    c.d = null;
  }
}

function section(title, extra) {
  const s = el("section");
  const h = el("h4", null, title);
  if (extra) h.append(" ", el("span", "muted", extra));
  s.append(h);
  return s;
}

function buildDetails(c) {
  const d = {};
  d.desc = el("p", "desc");
  d.steps = section("Steps");
  d.stepsList = el("ol", "steps");
  d.stepsMore = el("button", "linkish", "");
  d.stepsMore.type = "button";
  d.stepsMore.hidden = true;
  d.stepsMore.addEventListener("click", () => { d.allSteps = !d.allSteps; d.stepsKey = ""; renderDetails(c); });
  d.steps.append(d.stepsList, d.stepsMore);
  d.activity = section("Recent activity");
  d.activityList = el("ul", "activity");
  d.activity.append(d.activityList);
  const top = el("div", "detail-grid");
  top.append(d.steps, d.activity);

  d.logs = el("section");
  const head = el("div", "log-head");
  d.logTitle = el("h4", null, `Logs (last ${LOG_LINES_LIVE} lines)`);
  d.logState = el("span", "log-state muted", "");
  d.logAll = el("button", "linkish", "Show all lines");
  d.logAll.type = "button";
  d.logAll.addEventListener("click", () => loadFullLog(c));
  d.logLive = el("button", "linkish", "Follow live");
  d.logLive.type = "button";
  d.logLive.hidden = true;
  d.logLive.addEventListener("click", () => openLogStream(c));
  const full = el("a", null, "Full log ↗");
  full.href = `/api/tasks/${c.task.id}/logs?tail=0`;
  full.target = "_blank";
  full.rel = "noopener";
  head.append(d.logTitle, d.logState, d.logLive, d.logAll, full);
  d.log = el("pre", "log");
  d.log.tabIndex = 0;
  d.log.setAttribute("aria-label", `Log of task ${c.task.id}`);
  d.logEmpty = true;
  d.log.textContent = "No output yet.";
  d.logs.append(head, d.log);

  d.info = section("Details");
  d.infoList = el("dl", "kv");
  d.info.append(d.infoList);
  d.meta = section("Metadata");
  d.metaList = el("dl", "kv");
  d.meta.append(d.metaList);
  const bottom = el("div", "detail-grid");
  bottom.append(d.info, d.meta);

  d.err = section("Error");
  d.errPre = el("pre", "json err");
  d.err.append(d.errPre);
  d.res = section("Result");
  d.resPre = el("pre", "json");
  d.res.append(d.resPre);

  c.details.replaceChildren(d.desc, top, d.logs, d.err, d.res, bottom);
  c.d = d;
}

function kv(dl, pairs) {
  const frag = document.createDocumentFragment();
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    frag.append(el("dt", null, k), el("dd", null, v));
  }
  dl.replaceChildren(frag);
}

function jsonText(v) {
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

function stepWhen(s) {
  if (s.started_at && s.finished_at) return `(${fmtDurFine((new Date(s.finished_at) - new Date(s.started_at)) / 1000)})`;
  if (s.state === "running" && s.started_at) {
    const prog = s.progress !== null && s.progress !== undefined ? `${fmtPct(s.progress)}, ` : "";
    return `(${prog}running ${fmtDur((Date.now() - new Date(s.started_at)) / 1000)})`;
  }
  return s.state === "queued" ? "(waiting)" : "";
}

function renderDetails(c) {
  const t = c.task, d = c.d;
  if (!d) return;
  setText(d.desc, t.description || "");
  d.desc.hidden = !t.description;

  const steps = Array.isArray(t.substeps) ? t.substeps : [];
  d.steps.hidden = steps.length === 0;
  const stepsKey = JSON.stringify(steps) + d.allSteps;
  if (steps.length && d.stepsKey !== stepsKey) {
    d.stepsKey = stepsKey;
    const shown = d.allSteps ? steps : steps.slice(-8);
    d.stepsList.replaceChildren(...shown.map((s) => {
      const li = el("li", s.state);
      const st = el("span", "st");
      st.append(icon(STATE_ICON[s.state] || "i-circle"));
      st.append(el("span", "visually-hidden", s.state));
      const body = el("div", "body");
      body.append(el("span", "name", s.name || s.id), " ", el("span", "when", stepWhen(s)));
      if (s.error) body.append(el("span", "err", s.error));
      li.append(st, body);
      return li;
    }));
    const done = steps.filter((s) => s.state === "completed").length;
    const failed = steps.filter((s) => s.state === "failed").length;
    const h = d.steps.querySelector("h4");
    h.replaceChildren(`Steps`, " ", el("span", "muted", `✓ ${done}  ✗ ${failed}  · ${steps.length} in all`));
    d.stepsMore.hidden = steps.length <= 8;
    setText(d.stepsMore, d.allSteps ? "Show fewer" : `Show all ${steps.length}`);
  }

  const acts = activityOf(c);
  const actKey = JSON.stringify(acts);
  if (d.actKey !== actKey) {
    d.actKey = actKey;
    d.activityList.replaceChildren(...acts.map((a) => {
      const li = el("li");
      const tm = el("time", null, fmtClock(a.ts));
      tm.dateTime = a.ts;
      li.append(tm, el("span", null, a.text));
      return li;
    }));
  }

  d.err.hidden = !t.error;
  setText(d.errPre, t.error || "");
  const hasResult = t.result !== null && t.result !== undefined;
  d.res.hidden = !hasResult;
  if (hasResult) setText(d.resPre, jsonText(t.result));

  /* Progress reports change neither of these: rebuild them only when
   * something they show changed. */
  const infoKey = `${t.state}|${t.attempt}|${t.exit_code}|${t.pid}|${t.started_at}|${t.finished_at}|${t.priority}|${t.group}`;
  const metaKey = JSON.stringify(t.metadata);
  if (d.infoKey === infoKey && d.metaKey === metaKey) return;
  d.infoKey = infoKey;
  d.metaKey = metaKey;

  const cmd = t.command && t.command.argv ? t.command.argv.map(shellQuote).join(" ") : null;
  const attempt = t.max_retries ? `${t.attempt} of ${t.max_retries + 1}` : t.attempt ? String(t.attempt) : null;
  kv(d.infoList, [
    ["Command", cmd],
    ["Directory", t.command && t.command.cwd],
    ["Source", t.source],
    ["Group", t.group],
    ["Priority", String(t.priority)],
    ["Attempt", attempt],
    ["Exit code", t.exit_code === null || t.exit_code === undefined ? null : String(t.exit_code)],
    ["PID", t.pid ? String(t.pid) : null],
    ["Owner", t.owner],
    ["Key", t.key],
    ["Timeout", t.timeout_s ? fmtDur(t.timeout_s) : null],
    ["Created", fmtClock(t.created_at, true)],
    ["Started", fmtClock(t.started_at, true)],
    ["Finished", fmtClock(t.finished_at, true)],
  ]);
  const meta = t.metadata && typeof t.metadata === "object" ? Object.entries(t.metadata) : [];
  d.meta.hidden = meta.length === 0;
  kv(d.metaList, meta.slice(0, 100).map(([k, v]) => [k, jsonText(v)]));
}

/* What happened to a task: its stamps, and what we saw while watching. */
function activityOf(c) {
  const t = c.task;
  const out = [];
  if (t.created_at) out.push({ ts: t.created_at, text: "Created" });
  if (t.started_at) out.push({ ts: t.started_at, text: t.attempt > 1 ? `Started (attempt ${t.attempt})` : "Started" });
  for (const a of S.activity.get(t.id) || []) out.push(a);
  if (t.finished_at && FINAL.has(t.state)) out.push({ ts: t.finished_at, text: STATE_LABEL[t.state] });
  out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return out.slice(-8);
}

function noteActivity(type, before, t) {
  const now = new Date().toISOString();
  const add = (text) => {
    let list = S.activity.get(t.id);
    if (!list) S.activity.set(t.id, (list = []));
    list.push({ ts: t.updated_at || now, text });
    if (list.length > 12) list.shift();
  };
  if (type === "task.paused") add("Paused");
  else if (type === "task.resumed") add("Resumed");
  else if (type === "task.retrying") add("Retry scheduled");
  else if (type === "task.updated" && t.cancel_requested && !before.cancel_requested) add("Cancel requested");
  else if (type === "task.substep") {
    const old = new Map((before.substeps || []).map((s) => [s.id, s.state]));
    for (const s of t.substeps || []) {
      if (old.get(s.id) === s.state) continue;
      const verb = { running: "started", completed: "completed", failed: "failed", cancelled: "cancelled", queued: "queued" }[s.state] || s.state;
      const dur = s.state !== "running" && s.started_at && s.finished_at ? ` (${fmtDurFine((new Date(s.finished_at) - new Date(s.started_at)) / 1000)})` : "";
      add(`Step “${s.name || s.id}” ${verb}${dur}`);
    }
  }
}

/* ---- logs ------------------------------------------------------------------------- */

function appendLogLine(c, line) {
  const d = c.d;
  if (!d) return;
  const pre = d.log;
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  if (d.logEmpty) { pre.textContent = ""; d.logEmpty = false; }
  const row = el("span", line.stream === "stderr" ? "stderr" : line.stream === "info" ? "info" : null);
  row.append(el("span", "ts", `[${fmtClock(line.ts)}] `), document.createTextNode(`${line.text}\n`));
  pre.append(row);
  while (pre.childElementCount > LOG_DOM_MAX) pre.firstElementChild.remove();
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

/* The task's own stream: its snapshot, the last lines of its log, then
 * every new line, until it ends. */
function openLogStream(c) {
  if (!c.d || c.logEs) return;
  while (S.logStreams.length >= LIVE_LOG_STREAMS) closeLogStream(S.logStreams[0], true);
  c.d.log.textContent = "Loading…";
  c.d.logEmpty = true;
  c.d.logLive.hidden = true;
  setText(c.d.logState, "");
  const es = new EventSource(`/api/tasks/${c.task.id}/stream?logs=${LOG_LINES_LIVE}`);
  c.logEs = es;
  S.logStreams.push(c);
  es.addEventListener("task.snapshot", (e) => {
    const t = JSON.parse(e.data);
    queueTask(t);
    scheduleRender();
    if (c.d) {
      c.d.log.textContent = "No output yet.";
      c.d.logEmpty = true;
      setText(c.d.logState, FINAL.has(t.state) ? "" : "● live");
      c.d.logState.classList.toggle("on", !FINAL.has(t.state));
    }
  });
  es.addEventListener("task.log", (e) => appendLogLine(c, JSON.parse(e.data)));
  es.onerror = () => {
    /* The stream of a task ends with the task: do not reconnect. */
    closeLogStream(c);
    if (c.d && c.d.logEmpty && c.d.log.textContent === "Loading…") c.d.log.textContent = "No output.";
  };
}

function closeLogStream(c, paused) {
  if (!c.logEs) return;
  c.logEs.close();
  c.logEs = null;
  const i = S.logStreams.indexOf(c);
  if (i >= 0) S.logStreams.splice(i, 1);
  if (c.d) {
    setText(c.d.logState, paused ? "live updates paused" : "");
    c.d.logLive.hidden = !paused;
  }
}

async function loadFullLog(c) {
  const d = c.d;
  if (!d) return;
  d.logAll.disabled = true;
  try {
    const data = await api(`/api/tasks/${c.task.id}/logs?tail=${LOG_DOM_MAX}`);
    d.log.textContent = "";
    d.logEmpty = true;
    for (const line of data.lines) appendLogLine(c, line);
    if (d.logEmpty) d.log.textContent = "No output.";
    setText(d.logTitle, data.truncated ? `Logs (last ${LOG_DOM_MAX} lines; the full log has more)` : "Logs (all lines)");
    d.log.scrollTop = d.log.scrollHeight;
  } catch (e) {
    toast(`Could not load the log: ${e.message}`, "bad");
  } finally {
    d.logAll.disabled = false;
  }
}

/* ---- clock ------------------------------------------------------------------------- */

/* Once a second; the cards' clocks move in the next render, so they cost
 * no frame of their own. */
function tick() {
  if (document.hidden) return;
  S.tickDue = true;
  scheduleRender();
}

/* Cards far from the viewport catch up when they come near. */
function tickCards() {
  for (const c of S.cards.values()) {
    if (!c.near && !c.expanded) continue;
    const st = c.task.state;
    if (st === "running") renderTimes(c);
    if (c.expanded && c.d && st === "running") {
      const steps = c.task.substeps;
      if (steps && steps.some((s) => s.state === "running")) { c.d.stepsKey = ""; renderDetails(c); }
    }
  }
}

/* ---- new task ---------------------------------------------------------------------- */

function bindNewTask() {
  const dlg = $("new-dialog"), form = $("new-form"), err = $("new-error");
  $("new-btn").addEventListener("click", () => {
    err.textContent = "";
    dlg.showModal();
    $("n-cmd").focus();
  });
  $("new-cancel").addEventListener("click", () => dlg.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    let argv;
    try {
      argv = shellSplit($("n-cmd").value);
    } catch (x) {
      err.textContent = `Command: ${x.message}`;
      $("n-cmd").focus();
      return;
    }
    if (!argv.length) {
      err.textContent = "Give a command to run.";
      $("n-cmd").focus();
      return;
    }
    const body = { command: { argv }, priority: $("n-prio").value };
    const title = $("n-title").value.trim(), kind = $("n-kind").value.trim(), group = $("n-group").value.trim();
    if (title) body.title = title;
    if (kind) body.kind = kind;
    if (group) body.group = group;
    const btn = $("new-submit");
    btn.disabled = true;
    try {
      const t = await api("/api/tasks", { method: "POST", body });
      dlg.close();
      form.reset();
      S.fresh.add(t.id);
      queueTask(t);
      scheduleRender();
      toast(`Started task #${t.id}`);
      countsSoon(0);
    } catch (x) {
      err.textContent = x.message;
    } finally {
      btn.disabled = false;
    }
  });
}

/* ---- notifications ---------------------------------------------------------------- */

function bindNotify() {
  const btn = $("notify-btn");
  const supported = "Notification" in window;
  S.notify = supported && localStorage.getItem("tasklight.notify") === "1" && Notification.permission === "granted";
  const show = () => {
    btn.setAttribute("aria-pressed", String(S.notify));
    btn.title = S.notify ? "Notifications on: click to turn off" : "Notify me when a task finishes or fails";
  };
  show();
  btn.addEventListener("click", async () => {
    if (!supported) { toast("This browser has no notifications", "bad"); return; }
    if (S.notify) {
      S.notify = false;
      localStorage.removeItem("tasklight.notify");
    } else {
      const perm = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
      if (perm !== "granted") { toast("Notifications are blocked for this page", "bad"); show(); return; }
      S.notify = true;
      localStorage.setItem("tasklight.notify", "1");
      toast("You will be notified when tasks finish or fail");
    }
    show();
  });
}

function notifyFinished(type, t) {
  if (!S.notify) return;
  const ok = type === "task.completed";
  const body = ok ? `Completed${t.elapsed_s ? ` in ${fmtDur(t.elapsed_s)}` : ""}` : `Failed${t.error ? `: ${t.error}` : ""}`;
  try {
    const n = new Notification(`${ok ? "✓" : "✗"} ${taskTitle(t)}`, { body: body.slice(0, 300), tag: `tasklight-${t.id}` });
    n.onclick = () => { window.focus(); n.close(); };
  } catch (_) { /* some browsers only notify from a service worker */ }
}

/* ---- views -------------------------------------------------------------------------- */

function setView(v) {
  S.view = v;
  $("tasks-view").hidden = v !== "tasks";
  $("history-view").hidden = v !== "history";
  for (const [id, name] of [["tab-tasks", "tasks"], ["tab-history", "history"]]) {
    if (name === v) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (v === "history") loadHistory();
  history.replaceState(null, "", v === "history" ? "#history" : "#");
}

/* ---- history ------------------------------------------------------------------------ */

const H = { state: "", cursor: null, rows: 0, loading: false, statsAt: 0 };
const HISTORY_MAX_ROWS = 2000;

async function loadHistory() {
  loadHistoryRows(true);
  if (Date.now() - H.statsAt < 5000) return;
  H.statsAt = Date.now();
  try {
    const st = await api("/api/stats?recent=1000");
    setCounts(st.counts);
    if (st.recent) {
      for (const k of st.recent.kinds) S.kinds.add(k.kind);
      updateKindOptions();
      drawDurations(st.recent);
      drawOutcomes(st.recent);
    }
  } catch (e) {
    if (e.status !== 401) toast(`Could not load history: ${e.message}`, "bad");
  }
}

async function loadHistoryRows(reset) {
  if (H.loading) return;
  H.loading = true;
  const body = $("history-rows");
  if (reset) { H.cursor = null; H.rows = 0; body.replaceChildren(); }
  let got = 0;
  try {
    for (let tries = 0; got < 50 && tries < 5; tries++) {
      const p = new URLSearchParams({ limit: H.state ? "50" : "100" });
      if (H.state) p.set("state", H.state);
      if (H.cursor) p.set("cursor", String(H.cursor));
      const data = await api(`/api/tasks?${p}`);
      const frag = document.createDocumentFragment();
      for (const t of data.tasks) {
        if (!FINAL.has(t.state)) continue;
        frag.append(historyRow(t));
        got++;
      }
      body.append(frag);
      H.rows += got;
      H.cursor = data.next_cursor ?? null;
      if (!H.cursor) break;
    }
  } catch (e) {
    if (e.status !== 401) toast(`Could not load finished tasks: ${e.message}`, "bad");
  } finally {
    H.loading = false;
  }
  $("history-empty").hidden = body.children.length > 0;
  $("history-more").hidden = !H.cursor || H.rows >= HISTORY_MAX_ROWS;
}

function historyRow(t) {
  const tr = el("tr");
  const td = el("td");
  const box = el("div", `t ${t.state}`);
  box.append(icon(STATE_ICON[t.state]));
  const txt = el("div");
  txt.append(el("span", "visually-hidden", `${STATE_LABEL[t.state]}: `), el("span", null, taskTitle(t)), " ", el("span", "muted", `#${t.id}`));
  if (t.state !== "completed" && t.error) txt.append(el("span", "err", t.error));
  box.append(txt);
  td.append(box);
  const log = el("td", "hide-sm");
  const a = el("a", null, "Log");
  a.href = `/api/tasks/${t.id}/logs?tail=0`;
  a.target = "_blank";
  a.rel = "noopener";
  a.setAttribute("aria-label", `Log of task ${t.id}`);
  log.append(a);
  tr.append(td, el("td", "hide-sm", t.kind || ""), el("td", "when", fmtClock(t.finished_at)),
    el("td", "num", t.elapsed_s !== null && t.elapsed_s !== undefined ? fmtDurFine(t.elapsed_s) : "–"), log);
  return tr;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawDurations(recent) {
  const box = $("chart-duration");
  const kinds = recent.kinds.filter((k) => k.duration_s && k.duration_s.p50 !== null).slice(0, 10);
  /* Drawn at the box's own width, so text keeps its size on a phone. */
  const W = Math.max(300, Math.round(box.clientWidth) || 520), rowH = 28, top = 6;
  const left = Math.min(130, Math.round(W * 0.3)), right = 64;
  const H2 = Math.max(60, top + kinds.length * rowH + 24);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H2}`, role: "img" });
  if (!kinds.length) {
    svg.setAttribute("aria-label", "No completed tasks yet");
    svg.append(svgEl("text", { x: W / 2, y: 34, "text-anchor": "middle", class: "none" }, "No completed tasks yet"));
    box.replaceChildren(svg);
    return;
  }
  const max = niceMax(Math.max(...kinds.map((k) => k.duration_s.p90 ?? k.duration_s.p50)));
  const x = (v) => left + ((W - left - right) * v) / max;
  const summary = kinds.map((k) => `${k.kind}: median ${fmtDurFine(k.duration_s.p50)}, 90th percentile ${fmtDurFine(k.duration_s.p90)} over ${k.completed} tasks`).join("; ");
  svg.setAttribute("aria-label", `Duration by kind. ${summary}`);
  for (const f of [0, 0.5, 1]) {
    const gx = x(max * f);
    svg.append(svgEl("line", { x1: gx, x2: gx, y1: top, y2: top + kinds.length * rowH, class: "gridline" }));
    svg.append(svgEl("text", { x: gx, y: top + kinds.length * rowH + 16, "text-anchor": "middle" }, fmtDurFine(max * f) || "0s"));
  }
  kinds.forEach((k, i) => {
    const y = top + i * rowH;
    const g = svgEl("g");
    g.append(svgEl("title", {}, `${k.kind}: ${k.completed} completed, ${k.failed} failed; median ${fmtDurFine(k.duration_s.p50)}, p90 ${fmtDurFine(k.duration_s.p90)}, max ${fmtDurFine(k.duration_s.max)}`));
    const maxChars = Math.max(6, Math.floor((left - 12) / 6.5));
    const name = k.kind.length > maxChars ? `${k.kind.slice(0, maxChars - 1)}…` : k.kind;
    g.append(svgEl("text", { x: left - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "label" }, name));
    const p50 = k.duration_s.p50, p90 = k.duration_s.p90 ?? p50;
    g.append(svgEl("rect", { x: x(p50), y: y + 7, width: Math.max(0, x(p90) - x(p50)), height: rowH - 14, rx: 3, class: "range" }));
    g.append(svgEl("rect", { x: left, y: y + 7, width: Math.max(2, x(p50) - left), height: rowH - 14, rx: 3, class: "p50" }));
    g.append(svgEl("line", { x1: x(p90), x2: x(p90), y1: y + 5, y2: y + rowH - 5, class: "p90" }));
    g.append(svgEl("text", { x: W - right + 8, y: y + rowH / 2 + 4 }, fmtDurFine(p50)));
    svg.append(g);
  });
  box.replaceChildren(svg);
  setText($("dur-caption"), `Completed tasks among the newest ${recent.tasks.toLocaleString()}: median bar, 90th percentile mark.`);
}

function fmtBucket(s) {
  return { 60: "minute", 300: "5 minutes", 900: "15 minutes", 1800: "30 minutes", 3600: "hour",
    10800: "3 hours", 21600: "6 hours", 43200: "12 hours", 86400: "day", 604800: "week" }[s] || fmtDur(s);
}

function drawOutcomes(recent) {
  const box = $("chart-outcomes");
  const b = recent.timeline.buckets;
  const W = Math.max(300, Math.round(box.clientWidth) || 520), Hh = 200, left = 34, right = 40, top = 8, bottom = 26;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${Hh}`, role: "img" });
  const totals = b.map((x) => x.completed + x.failed + x.cancelled);
  const all = totals.reduce((a, v) => a + v, 0);
  if (!all) {
    svg.setAttribute("aria-label", "No finished tasks yet");
    svg.append(svgEl("text", { x: W / 2, y: Hh / 2, "text-anchor": "middle", class: "none" }, "No finished tasks yet"));
    box.replaceChildren(svg);
    return;
  }
  const max = niceMax(Math.max(...totals));
  const plotW = W - left - right, plotH = Hh - top - bottom;
  const bw = plotW / b.length;
  const y = (v) => top + plotH - (plotH * v) / max;
  const failed = b.reduce((a, x) => a + x.failed, 0);
  svg.setAttribute("aria-label", `Outcomes over time, ${b.length} intervals of a ${fmtBucket(recent.timeline.bucket_s)}: ${all} finished, ${failed} failed (${Math.round((100 * failed) / all)}% failure rate).`);
  for (const f of [0, 0.5, 1]) {
    const gy = y(max * f);
    svg.append(svgEl("line", { x1: left, x2: W - right, y1: gy, y2: gy, class: "gridline" }));
    if (Number.isInteger(max * f)) svg.append(svgEl("text", { x: left - 6, y: gy + 4, "text-anchor": "end" }, max * f));
    svg.append(svgEl("text", { x: W - right + 6, y: top + plotH - plotH * f + 4 }, `${Math.round(100 * f)}%`));
  }
  const pts = [];
  b.forEach((x, i) => {
    const g = svgEl("g");
    const total = totals[i];
    g.append(svgEl("title", {}, `${fmtClock(x.start, true)}: ${x.completed} completed, ${x.failed} failed, ${x.cancelled} cancelled`));
    let base = 0;
    for (const k of ["completed", "failed", "cancelled"]) {
      if (!x[k]) continue;
      const y0 = y(base), y1 = y(base + x[k]);
      g.append(svgEl("rect", { x: left + i * bw + bw * 0.12, y: y1, width: bw * 0.76, height: Math.max(1, y0 - y1), class: k }));
      base += x[k];
    }
    svg.append(g);
    if (total) pts.push(`${left + i * bw + bw / 2},${top + plotH - plotH * (x.failed / total)}`);
  });
  if (pts.length > 1) svg.append(svgEl("polyline", { points: pts.join(" "), class: "rate" }));
  for (const p of pts) {
    const [cx, cy] = p.split(",");
    svg.append(svgEl("circle", { cx, cy, r: 2.2, class: "rate-dot" }));
  }
  const withDate = recent.timeline.bucket_s >= 86400 || new Date(b[0].start).toDateString() !== new Date().toDateString();
  for (const i of [0, Math.floor((b.length - 1) / 2), b.length - 1]) {
    const d = new Date(b[i].start);
    const label = withDate ? d.toLocaleDateString([], { month: "short", day: "numeric" }) + (recent.timeline.bucket_s < 86400 ? ` ${d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })}` : "")
      : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    svg.append(svgEl("text", { x: left + i * bw + bw / 2, y: Hh - 8, "text-anchor": i === 0 ? "start" : i === b.length - 1 ? "end" : "middle" }, label));
  }
  box.replaceChildren(svg);
  setText($("rate-caption"), `Finished tasks per ${fmtBucket(recent.timeline.bucket_s)}; the line is the failure rate.`);
}

/* ---- start -------------------------------------------------------------------------- */

function init() {
  buildCounts();
  bindFilters();
  bindNewTask();
  bindNotify();
  $("tab-tasks").addEventListener("click", () => setView("tasks"));
  $("tab-history").addEventListener("click", () => setView("history"));
  $("h-state").addEventListener("change", (e) => { H.state = e.target.value; loadHistoryRows(true); });
  $("history-more").addEventListener("click", () => loadHistoryRows(false));
  document.addEventListener("visibilitychange", () => { if (!document.hidden) { reconnectNow(); tick(); } });
  window.addEventListener("online", reconnectNow);
  setInterval(tick, 1000);
  loadPage();
  countsSoon(0);
  connect();
  if (location.hash === "#history") setView("history");
}

init();
