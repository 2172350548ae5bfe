// peer_common.js -- what the Node peers' benchmark scripts share
// (bullmq_bench.js, graphile_bench.js): latency percentiles and a timeout
// for a promise.
'use strict';

const fs = require('fs');

// p50/p90/p99/max in ms of lat (seconds, sorted here); every sample is
// written to dump (ms, one a line) when given, for the plots.
function percentiles(lat, dump) {
  lat.sort((a, b) => a - b);
  if (dump) {
    fs.writeFileSync(dump, lat.map((x) => (x * 1000).toFixed(4)).join('\n') + '\n');
  }
  const p = (q) => (lat.length
    ? lat[Math.min(lat.length - 1, Math.floor((q / 100) * lat.length))] * 1000 : 0);
  return { p50_ms: p(50), p90_ms: p(90), p99_ms: p(99),
    max_ms: lat.length ? lat[lat.length - 1] * 1000 : 0 };
}

// promise, or a rejection naming what once seconds have passed.
function withTimeout(promise, seconds, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${seconds} s`)),
      seconds * 1000);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

module.exports = { percentiles, withTimeout };
