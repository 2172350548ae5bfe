// bullmq_bench.js -- the BullMQ side of the benchmark cases, against a Redis
// on loopback. Prints one JSON line like bench/loadgen does.
//
//   node bullmq_bench.js lifecycle PORT --count N --conc C [--updates 10]
//       N jobs: queue.add, then a worker (concurrency C) calls
//       job.updateProgress U times and returns (the job completes);
//       C producers add at once; rate = completed jobs/s
//   node bullmq_bench.js progress PORT --count N [--conns C] [--depth D]
//       N job.updateProgress calls into one job, from C connections with
//       D calls in flight on each; rate = updates/s
//   node bullmq_bench.js latency PORT --count N [--pause-ms 5] [--dump FILE]
//       one at a time: time from before queue.add until the worker's
//       processor is entered (worker concurrency 1, same process)
//
// Module resolution: run with NODE_PATH=bench/.peers/node_modules.
'use strict';

const { Queue, Worker, Job } = require('bullmq');
const { percentiles, withTimeout } = require('./peer_common');

function parseArgs(argv) {
  const o = { mode: argv[0], port: Number(argv[1]), count: 1000, conc: 1,
    conns: 1, depth: 1, updates: 10, pauseMs: 5, timeoutS: 300, dump: null };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = Number(argv[i + 1]);
    if (k === '--dump') o.dump = argv[i + 1];
    else if (k === '--count') o.count = v;
    else if (k === '--conc') o.conc = v;
    else if (k === '--conns') o.conns = v;
    else if (k === '--depth') o.depth = v;
    else if (k === '--updates') o.updates = v;
    else if (k === '--pause-ms') o.pauseMs = v;
    else if (k === '--timeout') o.timeoutS = v;
    else throw new Error(`unknown option ${k}`);
  }
  if (!['lifecycle', 'progress', 'latency'].includes(o.mode) || !o.port) {
    throw new Error('usage: bullmq_bench.js lifecycle|progress|latency PORT ...');
  }
  return o;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connection(port) {
  // Loopback only; maxRetriesPerRequest null is what BullMQ workers require.
  return { host: '127.0.0.1', port, maxRetriesPerRequest: null };
}

async function lifecycle(o, qname) {
  const queue = new Queue(qname, { connection: connection(o.port) });
  let done = 0;
  let failed = 0;
  let finish;
  const allDone = new Promise((r) => { finish = r; });
  const worker = new Worker(qname, async (job) => {
    for (let k = 1; k <= o.updates; k++) {
      await job.updateProgress((100 * k) / o.updates);
    }
    return { ok: true };
  }, { connection: connection(o.port), concurrency: o.conc });
  worker.on('completed', () => { if (++done === o.count) finish(); });
  worker.on('failed', () => { failed++; });
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const t0 = now();
  let next = 0;
  const producers = [];
  for (let c = 0; c < o.conc; c++) {
    producers.push((async () => {
      while (next < o.count) {
        next++;
        await queue.add('bench', { i: next });
      }
    })());
  }
  await Promise.all(producers);
  await withTimeout(allDone, o.timeoutS, 'lifecycle');
  const secs = now() - t0;
  await worker.close();
  await queue.close();
  if (failed) throw new Error(`${failed} jobs failed`);
  return { count: o.count, requests: o.count * (o.updates + 2), seconds: secs,
    rate: o.count / secs, unit: 'lifecycle' };
}

async function progress(o, qname) {
  const queues = [];
  for (let c = 0; c < o.conns; c++) {
    queues.push(new Queue(qname, { connection: connection(o.port) }));
  }
  await Promise.all(queues.map((q) => q.waitUntilReady()));
  const added = await queues[0].add('progress', {});
  const jobs = await Promise.all(queues.map((q) => Job.fromId(q, added.id)));
  const lat = [];
  let issued = 0;
  const t0 = now();
  const loops = [];
  for (const job of jobs) {
    for (let d = 0; d < o.depth; d++) {
      loops.push((async () => {
        while (issued < o.count) {
          const p = (issued++ % 10000) / 100;
          const s = now();
          await job.updateProgress(p);
          lat.push(now() - s);
        }
      })());
    }
  }
  await withTimeout(Promise.all(loops), o.timeoutS, 'progress');
  const secs = now() - t0;
  await Promise.all(queues.map((q) => q.close()));
  return { count: o.count, requests: lat.length, seconds: secs,
    rate: lat.length / secs, unit: 'req', ...percentiles(lat, o.dump) };
}

async function latency(o, qname) {
  const queue = new Queue(qname, { connection: connection(o.port) });
  let entered;
  let waiting = null;
  const worker = new Worker(qname, async () => {
    const t = now();
    if (waiting) waiting(t);
    return null;
  }, { connection: connection(o.port), concurrency: 1 });
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  const lat = [];
  const t0 = now();
  for (let i = 0; i < o.count; i++) {
    const p = new Promise((r) => { waiting = r; });
    const s = now();
    await queue.add('latency', { i });
    entered = await withTimeout(p, 10, 'latency');
    waiting = null;
    lat.push(entered - s);
    await sleep(o.pauseMs); // idle again: the job completes
  }
  const secs = now() - t0;
  await worker.close();
  await queue.close();
  return { count: o.count, requests: o.count, seconds: secs,
    rate: o.count / secs, unit: 'req', ...percentiles(lat, o.dump) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const qname = `bench-${o.mode}-${process.pid}-${Date.now()}`;
  const fn = { lifecycle, progress, latency }[o.mode];
  const r = await fn(o, qname);
  process.stdout.write(`${JSON.stringify({ mode: o.mode, errors: 0, ...r })}\n`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`bullmq_bench: ${e.stack || e}\n`);
  process.exit(1);
});
