// The load of the dashboard bench: each tracked task gets RATE progress
// reports a second (PATCH current, message), sent from this process so the
// browser's numbers are not the generator's. Loopback only; stops by itself
// after SECONDS.
//   node loadgen.mjs BASE TOKEN RATE SECONDS ID...
// Prints one JSON line: {"sent", "failed", "seconds", "per_s"}.
import http from "node:http";

const [base, token, rateArg, secondsArg, ...idArgs] = process.argv.slice(2);
const rate = Number(rateArg), seconds = Number(secondsArg);
const ids = idArgs.map(Number);
const url = new URL(base);
if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
  console.error("loadgen: loopback only");
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 24 });
let sent = 0, failed = 0, inflight = 0;

function patch(id, body) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({
      host: url.hostname, port: url.port, path: `/api/tasks/${id}`, method: "PATCH", agent,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) },
    }, (res) => {
      res.resume();
      res.on("end", () => { if (res.statusCode === 200) sent++; else failed++; resolve(); });
    });
    req.on("error", () => { failed++; resolve(); });
    req.end(data);
  });
}

const total = 1000;
const current = new Map(ids.map((id, i) => [id, (i * 37) % total]));
const t0 = Date.now();
const period = 1000 / rate;
let round = 0;

async function tick() {
  if (Date.now() - t0 >= seconds * 1000) return finish();
  round++;
  // Spread the round's reports over the period rather than in one burst.
  const batch = Math.ceil(ids.length / 4);
  for (let k = 0; k < ids.length; k += batch) {
    for (const id of ids.slice(k, k + batch)) {
      if (inflight > 400) { failed++; continue; } // the daemon is not keeping up
      const c = (current.get(id) + 1 + (id % 3)) % total;
      current.set(id, c);
      inflight++;
      patch(id, { current: c, message: `item ${c} of ${total} • round ${round}` }).then(() => inflight--);
    }
    await new Promise((r) => setTimeout(r, period / 4));
  }
  const next = t0 + round * period - Date.now();
  setTimeout(tick, Math.max(0, next));
}

function finish() {
  const s = (Date.now() - t0) / 1000;
  const wait = setInterval(() => {
    if (inflight > 0 && Date.now() - t0 < (seconds + 10) * 1000) return;
    clearInterval(wait);
    console.log(JSON.stringify({ sent, failed, seconds: s, per_s: Math.round(sent / s) }));
    agent.destroy();
  }, 50);
}

tick();
