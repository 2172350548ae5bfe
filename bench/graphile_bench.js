// graphile_bench.js -- the graphile-worker side of the graphile case,
// against a PostgreSQL on loopback. Prints one JSON line like bench/loadgen.
//
//   node graphile_bench.js latency URL --count N [--pause-ms 5] [--dump FILE]
//       one at a time on an idle worker: time from before addJob until the
//       task function is entered (same process; the worker wakes on the
//       LISTEN/NOTIFY that add_job sends, not on its poll)
//   node graphile_bench.js lifecycle URL --count N [--conc C]
//       [--local-queue S] [--complete-batch-ms D] [--poll-ms P]
//       N no-op jobs added at once (one addJobs call, one INSERT, committed),
//       run by a worker pool of concurrency C; rate = N / (start of the add
//       until every job has completed and no job is left in the table,
//       i.e. every completion committed)
//
// URL is postgres://USER@127.0.0.1:PORT/DB (loopback only). Run with
// NODE_PATH=bench/.peers/node_modules.
'use strict';

const { EventEmitter } = require('events');
const { run, makeWorkerUtils } = require('graphile-worker');
const { percentiles, withTimeout } = require('./peer_common');

function parseArgs(argv) {
  const o = { mode: argv[0], url: argv[1], count: 1000, conc: 4, localQueue: -1,
    completeBatchMs: -1, pollMs: 2000, pauseMs: 5, timeoutS: 300, dump: null };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = Number(argv[i + 1]);
    if (k === '--dump') o.dump = argv[i + 1];
    else if (k === '--count') o.count = v;
    else if (k === '--conc') o.conc = v;
    else if (k === '--local-queue') o.localQueue = v;
    else if (k === '--complete-batch-ms') o.completeBatchMs = v;
    else if (k === '--poll-ms') o.pollMs = v;
    else if (k === '--pause-ms') o.pauseMs = v;
    else if (k === '--timeout') o.timeoutS = v;
    else throw new Error(`unknown option ${k}`);
  }
  if (!['lifecycle', 'latency'].includes(o.mode) ||
      !/^postgres:\/\/[^@/]*@127\.0\.0\.1:\d+\//.test(o.url || '')) {
    throw new Error('usage: graphile_bench.js lifecycle|latency postgres://U@127.0.0.1:PORT/DB ...');
  }
  return o;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A silent logger: the worker logs every job at info level otherwise.
function quietLogger() {
  const { Logger } = require('graphile-worker');
  return new Logger(() => (level, message) => {
    if (level === 'error') process.stderr.write(`graphile-worker: ${message}\n`);
  });
}

async function latency(o) {
  let waiter = null;
  const runner = await run({
    connectionString: o.url, concurrency: 1, noHandleSignals: true,
    pollInterval: o.pollMs, logger: quietLogger(),
    taskList: { stamp: async () => { const t = now(); if (waiter) waiter(t); } },
  });
  const lat = [];
  try {
    await sleep(200); // the worker is listening and idle
    for (let i = 0; i < o.count; i++) {
      const entered = new Promise((resolve) => { waiter = resolve; });
      const t0 = now();
      await runner.addJob('stamp', {});
      const t1 = await withTimeout(entered, 10, 'job start');
      waiter = null;
      lat.push(t1 - t0);
      await sleep(o.pauseMs);
    }
  } finally {
    await runner.stop();
  }
  return { mode: 'latency', count: o.count, errors: 0, ...percentiles(lat, o.dump) };
}

async function lifecycle(o) {
  const events = new EventEmitter();
  let completed = 0, failed = 0, allDone;
  const done = new Promise((r) => { allDone = r; });
  events.on('job:complete', ({ error }) => {
    if (error) failed++;
    if (++completed === o.count) allDone();
  });
  const worker = {};
  if (o.localQueue > 1) worker.localQueue = { size: o.localQueue };
  if (o.completeBatchMs >= 0) worker.completeJobBatchDelay = o.completeBatchMs;
  const runner = await run({
    connectionString: o.url, concurrency: o.conc, noHandleSignals: true,
    pollInterval: o.pollMs, maxPoolSize: Math.max(10, o.conc + 2),
    logger: quietLogger(), events, preset: { worker },
    taskList: { noop: async () => {} },
  });
  const utils = await makeWorkerUtils({ connectionString: o.url, logger: quietLogger() });
  let secs;
  try {
    await sleep(200);
    const specs = Array.from({ length: o.count }, (_, i) => ({ identifier: 'noop', payload: { i } }));
    const t0 = now();
    await utils.addJobs(specs);
    await withTimeout(done, o.timeoutS, 'jobs');
    // With completeJobBatchDelay the last completions are written after
    // their event: done is when no job is left in the table.
    const left = () => utils.withPgClient((c) =>
      c.query('select count(*)::int as n from graphile_worker.jobs')).then((r) => r.rows[0].n);
    const deadline = now() + 10;
    let n;
    while ((n = await left()) !== 0 && now() < deadline) await sleep(1);
    secs = now() - t0;
    if (n !== 0 || failed) throw new Error(`${n} jobs left, ${failed} failed`);
  } finally {
    await utils.release();
    await runner.stop();
  }
  return { mode: 'lifecycle', count: o.count, conc: o.conc, seconds: secs,
    rate: o.count / secs, errors: 0 };
}

(async () => {
  const o = parseArgs(process.argv.slice(2));
  const res = o.mode === 'latency' ? await latency(o) : await lifecycle(o);
  process.stdout.write(JSON.stringify(res) + '\n');
  process.exit(0);
})().catch((e) => {
  process.stderr.write(`graphile_bench: ${e.stack || e}\n`);
  process.exit(1);
});
