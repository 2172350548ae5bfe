// The dashboard under load, measured in Chromium.
//
// A daemon on a temp dir (loopback) gets TASKS tasks (finished ones, and
// TRACKED running tracked tasks); a load generator (loadgen.mjs, its own
// process) reports progress on each tracked task RATE times a second; the
// dashboard is open in Debian's Chromium (headless, playwright-core) on the
// default view, whose first page is all running tasks. For SECONDS the page
// is watched three ways:
//   - long tasks: PerformanceObserver('longtask') (main-thread tasks > 50 ms)
//   - long animation frames: PerformanceObserver('long-animation-frame')
//     (frames whose work, from the first task to the rendering, took > 50 ms)
//   - frames: the intervals between requestAnimationFrame callbacks
//   - a Chromium performance trace: the top-level tasks of the renderer's
//     main thread (RunTask), their max and p99, in wall time and in the
//     thread's CPU time
// Midway it expands two cards (live log streams), switches to the Running
// filter and pages forward and back, so interactions are measured too.
//
// PASS (issue #4): no task of the renderer's main thread over 50 ms of wall
// time in the trace, and no long task seen by the page. Each task over 50 ms
// is listed with its CPU time: a task that took 60 ms of wall time but 10 ms
// of CPU was waiting for a core (this machine has two, shared with the
// daemon, the load generator and the browser's other processes), not working.
// The page's own cost is the CPU column: its max, p99 and how busy the main
// thread was; the machine's load average is printed before and after.
//
//   make bench-dashboard [ARGS="--seconds 30"]
//   node bench/dashboard/bench.mjs [--tasks N] [--tracked N] [--rate N]
//                                  [--seconds N] [--json FILE]
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg, setPriority } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Daemon, launchBrowser, sleep } from "../../tests/e2e/lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const opt = { tasks: 10000, tracked: 200, rate: 5, seconds: 20, json: "", trace: "" };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, "");
  if (!(k in opt)) {
    console.error(`unknown option --${k}`);
    process.exit(2);
  }
  opt[k] = k === "json" || k === "trace" ? process.argv[i + 1] : Number(process.argv[i + 1]);
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const r1 = (x) => Math.round(x * 10) / 10;

/* The animation frames of the trace over 50 ms of wall time, and where
 * the browser's CPU went while each lasted: the page's main thread (script,
 * style, layout, paint), the raster workers and the display compositor
 * (which draw the page's pixels; without a GPU they do it in software).
 * A frame is a long one of the page's making when its main thread worked
 * over 50 ms in it; a frame made long by the compositor or by waiting for
 * a core is listed, with its split, but is not the page's work. */
function framesOver50(events, t0) {
  const names = new Map();
  for (const e of events)
    if (e.ph === "M" && e.name === "thread_name") names.set(`${e.pid}:${e.tid}`, e.args.name);
  const open = new Map();
  const frames = [];
  for (const e of events) {
    if (e.name !== "AnimationFrame") continue;
    const k = `${e.pid}:${e.id ?? ""}:${e.id2?.local ?? ""}`;
    if (e.ph === "b") open.set(k, e.ts);
    else if (e.ph === "e" && open.has(k) && e.ts - open.get(k) > 50000) frames.push({ ts: open.get(k), end: e.ts });
  }
  const tops = events.filter((e) => e.ph === "X" && e.dur > 0 &&
    (e.name === "ThreadControllerImpl::RunTask" || e.name === "ThreadPool_RunTask"));
  const part = (n) => n === "CrRendererMain" ? "main" : n === "VizCompositorThread" ? "compositor"
    : n.startsWith("ThreadPoolForegroundWorker") ? "raster" : "other";
  return frames.map((f) => {
    const cpu = { main: 0, raster: 0, compositor: 0, other: 0 };
    for (const e of tops) {
      const overlap = Math.min(e.ts + e.dur, f.end) - Math.max(e.ts, f.ts);
      if (overlap > 0) cpu[part(names.get(`${e.pid}:${e.tid}`) || "")] += ((e.tdur || 0) * overlap) / e.dur / 1000;
    }
    for (const k in cpu) cpu[k] = r1(cpu[k]);
    return { at_s: r1((f.ts - t0) / 1e6), wall_ms: r1((f.end - f.ts) / 1000), cpu_ms: cpu };
  });
}

/* Requests with a bounded number in flight. */
async function pool(n, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: limit }, async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  });
  await Promise.all(workers);
}

const d = await new Daemon().start();
let ctx, gen;
try {
  // ---- the store ----
  const t0 = Date.now();
  const kinds = ["docker_pull", "benchmark_run", "training", "data_transfer", "vm_provision"];
  const finished = opt.tasks - opt.tracked;
  await pool(finished, 16, async (i) => {
    const kind = kinds[i % kinds.length];
    const t = await d.api("POST", "/api/tasks", { title: `${kind} run ${i}`, kind, heartbeat_timeout_s: 0 });
    await d.api("PATCH", `/api/tasks/${t.id}`, i % 13 === 0
      ? { state: "failed", error: "synthetic failure" }
      : { state: "completed", result: { n: i } });
  });
  const tracked = new Array(opt.tracked);
  await pool(opt.tracked, 16, async (i) => {
    const kind = kinds[i % kinds.length];
    const t = await d.api("POST", "/api/tasks", {
      title: `${kind} live ${i}`, kind, total: 1000, unit: i % 2 ? "B" : "items", heartbeat_timeout_s: 0,
      metadata: { worker: i % 8, bench: true },
    });
    tracked[i] = t.id;
  });
  const stats = await d.api("GET", "/api/stats");
  const total = Object.values(stats.counts).reduce((a, b) => a + b, 0);
  console.log(`store: ${total} tasks (${stats.counts.running} running) in ${r1((Date.now() - t0) / 1000)} s`);

  // ---- the browser ----
  ctx = await launchBrowser({ viewport: { width: 1280, height: 900 } });
  const page = ctx.pages()[0] || (await ctx.newPage());
  await page.addInitScript(() => {
    window.__perf = { longtasks: [], frames: [], loafs: [] };
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__perf.longtasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: "longtask", buffered: true });
    } catch (_) { window.__perf.noLongtask = true; }
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          window.__perf.loafs.push({ start: e.startTime, duration: e.duration, blocking: e.blockingDuration,
            render_ms: e.renderStart ? e.startTime + e.duration - e.renderStart : 0,
            scripts: (e.scripts || []).map((x) => `${x.invoker} ${Math.round(x.duration)} ms`).join("; ") });
      }).observe({ type: "long-animation-frame", buffered: true });
    } catch (_) { window.__perf.noLoaf = true; }
  });
  const load0 = Date.now();
  await page.goto(d.loginUrl);
  await page.waitForSelector('#conn[data-state="live"]');
  await page.waitForSelector(".card");
  const loadMs = Date.now() - load0;
  await sleep(1000);

  // ---- the load ----
  gen = spawn(process.execPath, [join(here, "loadgen.mjs"), d.base, d.token, String(opt.rate),
    String(opt.seconds + 4), ...tracked.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
  // The daemon and the load run niced: on this two-core machine they would
  // otherwise take cores from the browser the bench is measuring.
  for (const pid of [d.proc.pid, gen.pid]) {
    try { setPriority(pid, 10); } catch (_) { /* not allowed: measure anyway */ }
  }
  let genOut = "";
  gen.stdout.on("data", (c) => { genOut += c; });
  const genDone = new Promise((res) => gen.on("exit", res));
  await sleep(2000); // let the load reach its rate

  // ---- measure ----
  const cdp = await ctx.newCDPSession(page);
  const traceEvents = [];
  cdp.on("Tracing.dataCollected", (e) => traceEvents.push(...e.value));
  const traceDone = new Promise((res) => cdp.once("Tracing.tracingComplete", res));
  await cdp.send("Tracing.start", {
    transferMode: "ReportEvents",
    traceConfig: { includedCategories: ["toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline"] },
  });
  const events0 = (await d.api("GET", "/api/stats")).totals.events_total;
  const loadBefore = loadavg().map(r1);
  await page.evaluate(() => {
    window.__perf.longtasks = [];
    window.__perf.loafs = [];
    window.__perf.frames = [];
    window.__perf.t0 = performance.now();
    let last = performance.now();
    const loop = (now) => {
      window.__perf.frames.push(now - last);
      last = now;
      if (!window.__perf.stop) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  });
  const ms = opt.seconds * 1000;
  await sleep(ms / 3);
  const cards = await page.$$(".card .toggle");
  for (const b of cards.slice(0, 2)) await b.click();
  await sleep(ms / 6);
  await page.click('.count[data-state="running"]');
  await sleep(ms / 6);
  if (!(await page.$eval("#next-page", (b) => b.disabled))) {
    await page.click("#next-page");
    await sleep(1000);
    await page.click("#prev-page");
  }
  await sleep(ms / 3 - 1000);
  const perf = await page.evaluate(() => {
    window.__perf.stop = true;
    return { ...window.__perf, elapsed: performance.now() - window.__perf.t0, dom: document.getElementsByTagName("*").length };
  });
  const events1 = (await d.api("GET", "/api/stats")).totals.events_total;
  await cdp.send("Tracing.end");
  await traceDone;

  // Top-level tasks of the renderer main thread, from the trace: the
  // scheduler's ThreadControllerImpl::RunTask (older builds: RunTask, which
  // newer ones nest inside it, so only one of the two names is counted).
  const mains = new Set(traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name" &&
    e.args && e.args.name === "CrRendererMain").map((e) => `${e.pid}:${e.tid}`));
  const topName = traceEvents.some((e) => e.name === "ThreadControllerImpl::RunTask")
    ? "ThreadControllerImpl::RunTask" : "RunTask";
  // Several renderers (the page, maybe a spare): the busiest is the page's.
  const byThread = new Map();
  for (const e of traceEvents) {
    if (e.ph !== "X" || e.name !== topName || !mains.has(`${e.pid}:${e.tid}`)) continue;
    const k = `${e.pid}:${e.tid}`;
    if (!byThread.has(k)) byThread.set(k, []);
    byThread.get(k).push(e);
  }
  let main = [];
  for (const v of byThread.values()) if (v.length > main.length) main = v;
  const tasks = main.map((e) => e.dur / 1000).sort((a, b) => a - b);
  // The same tasks in CPU time of the thread: what the page itself costs,
  // apart from waiting for a core (this machine has two, shared with the
  // daemon, the load generator and the browser's other processes).
  const cpu = main.map((e) => (e.tdur || 0) / 1000).sort((a, b) => a - b);
  const t0trace = main.reduce((m, e) => Math.min(m, e.ts), Infinity);
  const over = main.filter((e) => e.dur > 50000).sort((a, b) => a.ts - b.ts)
    .map((e) => ({ at_s: r1((e.ts - t0trace) / 1e6), wall_ms: r1(e.dur / 1000), cpu_ms: r1((e.tdur || 0) / 1000) }));

  const longFrames = framesOver50(traceEvents, t0trace);

  await genDone;
  const load = JSON.parse(genOut.trim().split("\n").pop() || "{}");
  const frames = perf.frames.slice(1).sort((a, b) => a - b);
  const lt = perf.longtasks.map((x) => x.duration).sort((a, b) => a - b);
  const loafs = (perf.loafs || []).map((x) => ({ at_s: r1((x.start - perf.t0) / 1000), duration_ms: r1(x.duration),
    blocking_ms: r1(x.blocking), render_ms: r1(x.render_ms), scripts: x.scripts }));
  const result = {
    store_tasks: total,
    tracked: opt.tracked,
    reports_per_s: load.per_s,
    report_failures: load.failed,
    events_per_s: Math.round((events1 - events0) / (perf.elapsed / 1000)),
    page_load_ms: loadMs,
    seconds: r1(perf.elapsed / 1000),
    dom_elements: perf.dom,
    longtasks: { count: lt.length, max_ms: r1(lt.length ? lt[lt.length - 1] : 0), p99_ms: r1(pct(lt, 99)), supported: !perf.noLongtask },
    long_animation_frames: { count: loafs.length, supported: !perf.noLoaf,
      max_ms: r1(loafs.reduce((m, x) => Math.max(m, x.duration_ms), 0)), frames: loafs },
    frames: { count: frames.length, p50_ms: r1(pct(frames, 50)), p99_ms: r1(pct(frames, 99)), max_ms: r1(frames[frames.length - 1] || 0) },
    trace_tasks: { count: tasks.length, p99_ms: r1(pct(tasks, 99)), max_ms: r1(tasks[tasks.length - 1] || 0), over_50ms: over.length, over_50ms_tasks: over },
    trace_long_frames: { count: longFrames.length, pages_own: longFrames.filter((f) => f.cpu_ms.main > 50).length,
      frames: longFrames },
    trace_tasks_cpu: { p99_ms: r1(pct(cpu, 99)), max_ms: r1(cpu[cpu.length - 1] || 0), over_50ms: cpu.filter((x) => x > 50).length,
      busy: r1((100 * cpu.reduce((a, b) => a + b, 0)) / perf.elapsed) },
    load_average_before: loadBefore,
    load_average: loadavg().map(r1),
    cores: cpus().length,
  };
  console.log(`load: ${result.reports_per_s} progress reports/s (${result.report_failures} failed), ${result.events_per_s} events/s`);
  console.log(`page: loaded in ${result.page_load_ms} ms, ${result.dom_elements} elements`);
  console.log(`long tasks (>50 ms): ${result.longtasks.count}, max ${result.longtasks.max_ms} ms`);
  console.log(`long animation frames (>50 ms): ${result.long_animation_frames.count}${result.long_animation_frames.supported ? "" : " (not supported)"}${loafs.length ? `: ${loafs.map((x) => `at ${x.at_s} s ${x.duration_ms} ms (blocking ${x.blocking_ms}, rendering ${x.render_ms}; ${x.scripts || "no script"})`).join(", ")}` : ""}`);
  console.log(`long frames in the trace (>50 ms): ${longFrames.length}, over 50 ms of page main-thread CPU: ${result.trace_long_frames.pages_own}`);
  for (const f of longFrames)
    console.log(`    at ${f.at_s} s: ${f.wall_ms} ms wall; CPU: page main thread ${f.cpu_ms.main}, raster ${f.cpu_ms.raster}, compositor ${f.cpu_ms.compositor}, other browser threads ${f.cpu_ms.other} ms`);
  console.log(`frames: ${result.frames.count} in ${result.seconds} s, p50 ${result.frames.p50_ms} ms, p99 ${result.frames.p99_ms} ms, max ${result.frames.max_ms} ms`);
  console.log(`trace, renderer main thread tasks: ${result.trace_tasks.count}`);
  console.log(`  wall time:       p99 ${result.trace_tasks.p99_ms} ms, max ${result.trace_tasks.max_ms} ms, over 50 ms: ${result.trace_tasks.over_50ms}`);
  for (const o of over) console.log(`    at ${o.at_s} s: ${o.wall_ms} ms wall, ${o.cpu_ms} ms CPU${o.cpu_ms < o.wall_ms / 2 ? " (mostly waiting for a core)" : ""}`);
  console.log(`  thread CPU time: p99 ${result.trace_tasks_cpu.p99_ms} ms, max ${result.trace_tasks_cpu.max_ms} ms, over 50 ms: ${result.trace_tasks_cpu.over_50ms}; main thread busy ${result.trace_tasks_cpu.busy}%`);
  console.log(`machine: load average ${result.load_average_before.join(" ")} before, ${result.load_average.join(" ")} after, ${result.cores} cores`);
  // One row for the table in bench/dashboard/README.md.
  console.log(`row: | ${result.load_average_before[0]} / ${result.load_average[0]} | ${result.trace_tasks.over_50ms}${over.length ? ` (CPU ${over.map((o) => o.cpu_ms).join(", ")} ms)` : ""} | ${result.trace_tasks.p99_ms} / ${result.trace_tasks.max_ms} ms | ${result.trace_tasks_cpu.p99_ms} / ${result.trace_tasks_cpu.max_ms} ms | ${result.trace_tasks_cpu.busy} % | ${result.longtasks.count} | ${result.long_animation_frames.count} | ${longFrames.length}${longFrames.length ? ` (page main thread ${longFrames.map((f) => f.cpu_ms.main).join(", ")} ms CPU)` : ""} | ${result.frames.p99_ms} / ${result.frames.max_ms} ms |`);
  const ok = result.trace_tasks.over_50ms === 0 && result.longtasks.count === 0 && result.trace_long_frames.pages_own === 0;
  console.log(ok
    ? `PASS: no main-thread task over 50 ms and no frame with over 50 ms of the page's own work (task wall max ${result.trace_tasks.max_ms} ms, CPU max ${result.trace_tasks_cpu.max_ms} ms; ${longFrames.length} frame(s) over 50 ms made long by the compositor or waiting, listed above)`
    : `FAIL: ${result.trace_tasks.over_50ms} main-thread task(s) over 50 ms of wall time, ${result.longtasks.count} long task(s) and ${result.trace_long_frames.pages_own} frame(s) with over 50 ms of page main-thread CPU`);
  if (opt.json) writeFileSync(opt.json, JSON.stringify(result, null, 2) + "\n");
  if (opt.trace) writeFileSync(opt.trace, JSON.stringify({ traceEvents }));
  process.exitCode = ok ? 0 : 1;
} finally {
  if (gen && gen.exitCode === null) gen.kill();
  if (ctx) await ctx.close();
  await d.stop();
  d.cleanup();
}
