// The dashboard in a real browser (Debian's Chromium, headless) against a
// real daemon on loopback. Screenshots go to build/e2e-artifacts/ (ignored).
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { Daemon, launchBrowser, artifactPath, until, sleep } from "./lib.mjs";

const XSS = `<img src=x onerror=alert(1)>`;

let d, ctx, page, dialogs, pageErrors;

before(async () => {
  d = await new Daemon().start();
  ctx = await launchBrowser();
  page = ctx.pages()[0] || (await ctx.newPage());
  dialogs = [];
  pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on("dialog", async (dlg) => {
    dialogs.push(dlg.message());
    await dlg.dismiss();
  });
});

after(async () => {
  if (ctx) await ctx.close();
  if (d) {
    await d.stop();
    d.cleanup();
  }
});

afterEach(async (t) => {
  if (page && !page.isClosed()) {
    const name = t.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
    await page.screenshot({ path: artifactPath(`${name}.png`) }).catch(() => {});
  }
  /* No test may leave an uncaught error in the page behind it. */
  const errors = pageErrors.splice(0);
  assert.deepEqual(errors, [], `uncaught errors in the page during "${t.name}"`);
});

async function openDashboard() {
  const resp = await page.goto(d.loginUrl);
  assert.equal(resp.status(), 200);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
}

function procState(pid) {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return null;
  const stat = readFileSync(path, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
}

async function barValue(id) {
  return page.$eval(`#task-${id} .bar`, (b) => b.getAttribute("aria-valuenow"));
}

test("the page loads with the token and refuses without it", async () => {
  const bare = await fetch(`${d.base}/`);
  assert.equal(bare.status, 401);
  const wrong = await fetch(`${d.base}/?token=not-the-token`);
  assert.equal(wrong.status, 401);
  const api = await fetch(`${d.base}/api/tasks`);
  assert.equal(api.status, 401);

  const denied = await page.goto(`${d.base}/`);
  assert.equal(denied.status(), 401);

  const resp = await page.goto(d.loginUrl);
  assert.equal(resp.status(), 200);
  assert.equal(new URL(page.url()).search, "", "the token is not left in the address bar");
  const csp = resp.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
  assert.equal(await page.textContent("h1"), "Background Tasks");
  const cookies = await ctx.cookies(d.base);
  const tok = cookies.find((c) => c.name === "tl_token");
  assert.ok(tok && tok.httpOnly && tok.sameSite === "Strict", JSON.stringify(cookies));
});

test("a task added with tl add appears without a reload within one second", async () => {
  await openDashboard();
  await page.evaluate(() => { window.__noReload = true; });
  const id = Number(d.tl("add", "--print-id", "--title", "e2e sleeper", "--", "sleep", "30").trim());
  const t0 = Date.now();
  await page.waitForSelector(`#task-${id}`, { timeout: 1000 });
  const took = Date.now() - t0;
  assert.ok(took <= 1000, `appeared after ${took} ms`);
  assert.equal(await page.evaluate(() => window.__noReload), true, "the page was reloaded");
  assert.equal(await page.textContent(`#task-${id} .title`), "e2e sleeper");
  await page.waitForSelector(`#task-${id}[data-state="running"]`, { timeout: 5000 });
  d.tl("cancel", String(id));
  await page.waitForSelector(`#task-${id}[data-state="cancelled"]`, { timeout: 5000 });
});

test("an older answer that arrives after a newer event does not undo it", async () => {
  // The page hears of a task from its streams and from answers to its own
  // requests, in no fixed order, and renders at most ten times a second:
  // an answer read before a change but delivered after its event, within
  // one render, must not put the card back.
  await openDashboard();
  const id = Number(d.tl("add", "--print-id", "--title", "late answer", "--", "sleep", "30").trim());
  await page.waitForSelector(`#task-${id}[data-state="running"]`, { timeout: 5000 });
  const stale = await d.api("GET", `/api/tasks/${id}`);
  const later = (t, ms) => new Date(Date.parse(t.updated_at) + ms).toISOString();
  const cancelled = { ...stale, state: "cancelled", updated_at: later(stale, 5) };
  await page.evaluate(([fresh, old]) => { queueTask(fresh); queueTask(old); scheduleRender(); }, [cancelled, stale]);
  await page.waitForSelector(`#task-${id}[data-state="cancelled"]`, { timeout: 2000 });
  // Two changes in one millisecond: the final state is the newer.
  const failed = { ...stale, state: "failed", updated_at: later(stale, 9) };
  const running = { ...stale, updated_at: failed.updated_at };
  await page.evaluate(([fin, run]) => { queueTask(fin); queueTask(run); scheduleRender(); }, [failed, running]);
  await page.waitForSelector(`#task-${id}[data-state="failed"]`, { timeout: 2000 });
  d.tl("cancel", String(id));
});

test("the progress bar follows progress reports", async () => {
  await openDashboard();
  const t = await d.api("POST", "/api/tasks", { title: "bar follows", kind: "e2e", total: 8.5e9, unit: "B" });
  await page.waitForSelector(`#task-${t.id}`);
  await d.api("PATCH", `/api/tasks/${t.id}`, { current: 2.125e9, message: "layer 3/24" });
  await until(async () => (await barValue(t.id)) === "25", 3000, "bar at 25%");
  assert.equal(await page.textContent(`#task-${t.id} .amount`), "2.1 GB / 8.5 GB");
  assert.equal(await page.textContent(`#task-${t.id} .message`), "layer 3/24");
  await d.api("PATCH", `/api/tasks/${t.id}`, { progress: 70 });
  await until(async () => (await barValue(t.id)) === "70", 3000, "bar at 70%");
  const width = await page.$eval(`#task-${t.id} .fill`, (f) => f.style.width);
  assert.equal(width, "70%");
  assert.equal(await page.textContent(`#task-${t.id} .pct`), "70%");
  // Unknown progress: striped and without a value.
  await d.api("PATCH", `/api/tasks/${t.id}`, { progress: null });
  await page.waitForSelector(`#task-${t.id} .bar.indeterminate`, { timeout: 3000 });
  assert.equal(await barValue(t.id), null);
  await d.api("PATCH", `/api/tasks/${t.id}`, { progress: 40 });
  await until(async () => (await barValue(t.id)) === "40", 3000, "bar at 40%");
  await d.api("PATCH", `/api/tasks/${t.id}`, { state: "failed", error: "disk full" });
  await page.waitForSelector(`#task-${t.id}[data-state="failed"]`, { timeout: 3000 });
  assert.equal(await barValue(t.id), "40", "a failed bar stays where it failed");
  assert.equal(await page.textContent(`#task-${t.id} .error-line`), "disk full");
  assert.match(await page.textContent(`#task-${t.id} .eta`), /^Finished at \d\d:\d\d:\d\d$/);
});

test("pause, resume and cancel act on the real process", async () => {
  await openDashboard();
  const id = Number(d.tl("add", "--print-id", "--title", "real process", "--", "sleep", "300").trim());
  await page.waitForSelector(`#task-${id}[data-state="running"]`, { timeout: 5000 });
  const { pid } = await d.api("GET", `/api/tasks/${id}`);
  assert.ok(pid > 0, "the task has a pid");
  assert.notEqual(procState(pid), "T");

  await page.click(`#task-${id} button[data-action="pause"]`);
  await page.waitForSelector(`#task-${id}[data-state="paused"]`, { timeout: 5000 });
  await until(() => procState(pid) === "T", 3000, `process ${pid} stopped`);

  await page.click(`#task-${id} button[data-action="resume"]`);
  await page.waitForSelector(`#task-${id}[data-state="running"]`, { timeout: 5000 });
  await until(() => ["S", "R"].includes(procState(pid)), 3000, `process ${pid} running again`);

  await page.click(`#task-${id} button[data-action="cancel"]`);
  await page.waitForSelector("#confirm-dialog[open]");
  await page.screenshot({ path: artifactPath("confirm-cancel.png") });
  await page.click("#confirm-yes");
  await page.waitForSelector(`#task-${id}[data-state="cancelled"]`, { timeout: 5000 });
  await until(() => procState(pid) === null || procState(pid) === "Z", 10000, `process ${pid} gone`);
  assert.deepEqual(dialogs, [], "no browser dialog was opened");
});

test("text from a task is shown as text and runs nothing", async () => {
  await openDashboard();
  const t = await d.api("POST", "/api/tasks", {
    title: XSS, kind: XSS, message: XSS, description: XSS, metadata: { [XSS]: XSS },
  });
  await d.api("POST", `/api/tasks/${t.id}/logs`, { line: XSS });
  await d.api("POST", `/api/tasks/${t.id}/substeps`, { name: XSS, id: "s1" });
  await page.waitForSelector(`#task-${t.id}`);
  await page.click(`#task-${t.id} .toggle`);
  await until(async () => (await page.textContent(`#task-${t.id} .log`)).includes(XSS), 5000, "the log line");
  await d.api("PATCH", `/api/tasks/${t.id}`, { state: "failed", error: XSS });
  await page.waitForSelector(`#task-${t.id}[data-state="failed"]`);
  assert.equal(await page.textContent(`#task-${t.id} .title`), XSS);
  assert.equal(await page.textContent(`#task-${t.id} .message`), XSS);
  assert.equal(await page.textContent(`#task-${t.id} .error-line`), XSS);
  assert.equal(await page.textContent(`#task-${t.id} .chip.kind`), XSS);
  assert.ok((await page.textContent(`#task-${t.id} .steps`)).includes(XSS));
  const meta = await page.$$eval(`#task-${t.id} dl.kv dd, #task-${t.id} dl.kv dt`, (els) => els.map((e) => e.textContent));
  assert.ok(meta.includes(XSS), JSON.stringify(meta));
  await page.click("#tab-history");
  await page.waitForSelector("#history-rows tr");
  await sleep(300);
  assert.equal(await page.locator("img").count(), 0, "no img element was made");
  assert.deepEqual(dialogs, [], "no dialog was opened");
  await page.click("#tab-tasks");
});

test("the new-task form splits the command like a shell and starts it", async () => {
  await openDashboard();
  await page.click("#new-btn");
  await page.fill("#n-cmd", `sh -c 'echo "hello world"; sleep 30' --ignored\\ arg`);
  await page.fill("#n-title", "from the form");
  await page.fill("#n-group", "forms");
  await page.selectOption("#n-prio", "high");
  await page.click("#new-submit");
  await page.waitForSelector("#new-dialog", { state: "hidden" });
  const sel = await page.waitForSelector(".card .title:text-is('from the form')", { timeout: 3000 });
  const cardId = await sel.evaluate((e) => e.closest(".card").id.replace("task-", ""));
  const t = await d.api("GET", `/api/tasks/${cardId}`);
  assert.deepEqual(t.command.argv, ["sh", "-c", `echo "hello world"; sleep 30`, "--ignored arg"]);
  assert.equal(t.group, "forms");
  assert.equal(t.priority, 10);
  // A bad command is refused in the form.
  await page.click("#new-btn");
  await page.fill("#n-cmd", `echo 'unclosed`);
  await page.click("#new-submit");
  assert.match(await page.textContent("#new-error"), /unclosed single quote/);
  await page.click("#new-cancel");
  // Remove asks first; cancel it, then remove the finished task for real.
  await d.api("POST", `/api/tasks/${cardId}/cancel`);
  await page.waitForSelector(`#task-${cardId}[data-state="cancelled"]`);
  await page.click(`#task-${cardId} button[data-action="remove"]`);
  await page.click("#confirm-no");
  assert.ok(await page.$(`#task-${cardId}`));
  await page.click(`#task-${cardId} button[data-action="remove"]`);
  await page.click("#confirm-yes");
  await page.waitForSelector(`#task-${cardId}`, { state: "detached", timeout: 3000 });
});

test("a dropped stream resumes from its last event id, without refetching", async () => {
  await openDashboard();
  const t = await d.api("POST", "/api/tasks", { title: "resume me", kind: "e2e" });
  await page.waitForSelector(`#task-${t.id}`);
  await sleep(1500); // counts and progress streams settle
  await page.evaluate(() => {
    window.__lists = 0;
    const real = window.fetch;
    window.fetch = (url, init) => {
      if (String(url).startsWith("/api/tasks?")) window.__lists++;
      return real(url, init);
    };
    S.backoff = 3000; // a drop of about three seconds
    S.es.onerror();
  });
  await page.waitForSelector('#conn[data-state="reconnecting"]');
  // Missed while away: a state change and a title change.
  await d.api("PATCH", `/api/tasks/${t.id}`, { title: "resumed", state: "completed" });
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
  await page.waitForSelector(`#task-${t.id}[data-state="completed"]`, { timeout: 3000 });
  assert.equal(await page.textContent(`#task-${t.id} .title`), "resumed");
  assert.equal(await page.evaluate(() => window.__lists), 0, "caught up by replay, not by reloading the list");
});

test("after the daemon restarts the page reconnects and catches up", async () => {
  await openDashboard();
  const before = await d.api("POST", "/api/tasks", { title: "before the restart", kind: "e2e" });
  await page.waitForSelector(`#task-${before.id}`);
  await d.stop();
  await page.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10000 });
  assert.match(await page.textContent("#conn-text"), /Reconnecting/);
  await page.screenshot({ path: artifactPath("reconnecting.png") });
  await d.restart();
  const afterT = await d.api("POST", "/api/tasks", { title: "after the restart", kind: "e2e" });
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 20000 });
  await page.waitForSelector(`#task-${afterT.id}`, { timeout: 5000 });
  // The tracked task of the old daemon was failed by recovery: the page knows.
  const st = (await d.api("GET", `/api/tasks/${before.id}`)).state;
  await page.waitForSelector(`#task-${before.id}[data-state="${st}"]`, { timeout: 5000 });
  // And it is live again: a change shows up.
  await d.api("PATCH", `/api/tasks/${afterT.id}`, { progress: 55 });
  await until(async () => (await barValue(afterT.id)) === "55", 3000, "live after reconnect");
});

test("history: charts, and finished tasks page by cursor", async () => {
  for (let i = 0; i < 130; i++) {
    const t = await d.api("POST", "/api/tasks", { title: `hist ${i}`, kind: i % 2 ? "pull" : "train" });
    await d.api("PATCH", `/api/tasks/${t.id}`, i % 10 === 0 ? { state: "failed", error: "boom" } : { state: "completed" });
  }
  await openDashboard();
  await page.click("#tab-history");
  await page.waitForSelector("#chart-duration svg .p50");
  await page.waitForSelector("#chart-outcomes svg rect.failed");
  const label = await page.getAttribute("#chart-outcomes svg", "aria-label");
  assert.match(label, /failed/);
  await page.waitForSelector("#history-rows tr");
  const first = await page.locator("#history-rows tr").count();
  assert.ok(first >= 50 && first <= 200, `first page: ${first} rows`);
  await page.selectOption("#h-state", "failed");
  await until(async () => (await page.locator("#history-rows tr").count()) >= 13, 5000, "failed rows");
  const failedRows = await page.locator("#history-rows tr").count();
  const failedTotal = (await d.api("GET", "/api/stats")).counts.failed;
  assert.equal(failedRows, Math.min(50, failedTotal));
  await page.selectOption("#h-state", "completed");
  await until(async () => (await page.locator("#history-rows tr").count()) === 50, 5000, "a page of completed");
  await page.click("#history-more");
  await until(async () => (await page.locator("#history-rows tr").count()) === 100, 5000, "the next page");
  const ids = await page.$$eval("#history-rows tr .muted", (els) => els.map((e) => Number(e.textContent.slice(1))));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "newest first, no repeats across pages");
  assert.equal(new Set(ids).size, ids.length);
  await page.screenshot({ path: artifactPath("history.png"), fullPage: true });
  await page.click("#tab-tasks");
});

test("task pages: every card shows its own task after paging both ways", async () => {
  // The history test left well over 50 tasks; a page change draws the first
  // cards at once and the rest over the next frames (aria-busy meanwhile).
  await openDashboard();
  const page1 = await d.api("GET", "/api/tasks?limit=50");
  assert.ok(page1.next_cursor, "more than one page of tasks");
  const page2 = await d.api("GET", `/api/tasks?limit=50&cursor=${page1.next_cursor}`);
  // One look at the page: whether the list is still being drawn, and each
  // card's task id and title (read together, so a check cannot pass on a
  // list that was whole a moment earlier).
  const look = () => page.evaluate(() => ({
    busy: document.getElementById("list").getAttribute("aria-busy") !== null,
    cards: [...document.querySelectorAll("#list > .card")].map((c) =>
      [Number(c.id.slice(5)), c.querySelector(".title").textContent]),
  }));
  const settled = async (p, what) => {
    const want = JSON.stringify(p.tasks.map((t) => t.id));
    let got = null;
    await until(async () => {
      const l = await look();
      if (l.busy || JSON.stringify(l.cards.map((x) => x[0])) !== want) return false;
      got = l.cards;
      return true;
    }, 5000, what);
    for (const [i, t] of p.tasks.entries()) {
      assert.equal(got[i][0], t.id);
      if (t.title) assert.equal(got[i][1], t.title, `${what}: card ${i} of task ${t.id}`);
    }
  };
  await settled(page1, "the first page");
  await page.click("#next-page");
  await settled(page2, "the second page");
  await page.click("#prev-page");
  await settled(page1, "the first page again");
});

test("opt-in notifications when a task finishes or fails", async () => {
  await ctx.grantPermissions(["notifications"], { origin: d.base });
  await page.addInitScript(() => {
    window.__notes = [];
    const Real = window.Notification;
    class Spy {
      constructor(title, opts) { window.__notes.push({ title, body: opts && opts.body }); }
      close() {}
      static get permission() { return Real ? Real.permission : "granted"; }
      static requestPermission() { return Promise.resolve("granted"); }
    }
    window.Notification = Spy;
  });
  await openDashboard();
  assert.equal(await page.getAttribute("#notify-btn", "aria-pressed"), "false");
  await page.click("#notify-btn");
  assert.equal(await page.getAttribute("#notify-btn", "aria-pressed"), "true");
  const ok = await d.api("POST", "/api/tasks", { title: "will finish", kind: "e2e" });
  const bad = await d.api("POST", "/api/tasks", { title: "will fail", kind: "e2e" });
  await d.api("PATCH", `/api/tasks/${ok.id}`, { state: "completed" });
  await d.api("PATCH", `/api/tasks/${bad.id}`, { state: "failed", error: "out of disk" });
  const notes = await until(async () => {
    const n = await page.evaluate(() => window.__notes);
    return n.length >= 2 ? n : null;
  }, 5000, "two notifications");
  assert.deepEqual(notes.map((n) => n.title).sort(), ["✓ will finish", "✗ will fail"]);
  assert.ok(notes.some((n) => n.body === "Failed: out of disk"), JSON.stringify(notes));
  await page.click("#notify-btn");
  assert.equal(await page.getAttribute("#notify-btn", "aria-pressed"), "false");
});

test("phone width and dark mode", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: "dark" });
  await openDashboard();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(bg, "rgb(244, 246, 249)", "dark colors apply");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
  await page.screenshot({ path: artifactPath("phone-dark.png") });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: "light" });
});

test("keyboard: every control is reachable and labelled", async () => {
  await openDashboard();
  const unlabeled = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll("button, input, select, a[href]")) {
      if (el.closest("[hidden], dialog:not([open]), template")) continue;
      const name = el.getAttribute("aria-label") || el.textContent.trim() || (el.labels && el.labels.length && el.labels[0].textContent.trim()) || el.getAttribute("title");
      if (!name) bad.push(el.outerHTML.slice(0, 80));
    }
    return bad;
  });
  assert.deepEqual(unlabeled, []);
  const divButtons = await page.$$eval("[onclick], div[role=button], span[role=button]", (els) => els.length);
  assert.equal(divButtons, 0, "buttons are buttons");
  // Tab from the top reaches the state filters, and Enter applies one.
  await page.focus("#tab-tasks");
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement && document.activeElement.classList.contains("count"));
  }
  assert.ok(reached, "the state filters are reachable with Tab");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  assert.equal(await page.getAttribute('.count[data-state="running"]', "aria-pressed"), "true");
  const live = await page.getAttribute("#counts-live", "aria-live");
  assert.equal(live, "polite");
  await page.click('.count[data-state=""]');
});
