// Helpers for the browser tests and the dashboard bench: a real daemon on a
// temp dir (loopback only), its HTTP API, and Debian's Chromium driven by
// playwright-core (no browser download).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, "../..");
export const TL_BIN = process.env.TL_BIN || join(ROOT, "build/tl");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const ARTIFACTS = process.env.E2E_ARTIFACTS || join(ROOT, "build/e2e-artifacts");

export { sleep };

export class Daemon {
  constructor(dir) {
    this.dir = dir || mkdtempSync(join(tmpdir(), "tl-e2e-"));
    this.proc = null;
    this.port = 0;
    this.log = "";
  }

  /* Starts `tl serve`; port 0 picks one, a number reuses it (a restart). */
  async start(port = 0) {
    const listenFile = join(this.dir, "listen");
    rmSync(listenFile, { force: true });
    this.proc = spawn(TL_BIN, ["serve", "--data-dir", this.dir, "--listen", `127.0.0.1:${port}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    const onData = (d) => { this.log += d.toString(); };
    this.proc.stdout.on("data", onData);
    this.proc.stderr.on("data", onData);
    const exited = new Promise((res) => this.proc.once("exit", (code) => res(code)));
    this.exited = exited;
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (existsSync(listenFile)) {
        const addr = readFileSync(listenFile, "utf8").trim();
        if (addr) {
          this.port = Number(addr.split(":").pop());
          this.token = readFileSync(join(this.dir, "token"), "utf8").trim();
          this.base = `http://127.0.0.1:${this.port}`;
          if (await this.healthy()) return this;
        }
      }
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`tl serve did not start:\n${this.log}`);
  }

  async healthy() {
    try {
      const r = await fetch(`${this.base}/healthz`);
      return r.ok;
    } catch (_) {
      return false;
    }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 10000);
    await this.exited;
    clearTimeout(t);
  }

  async restart() {
    const port = this.port;
    await this.stop();
    for (let i = 0; i < 50; i++) {
      try {
        return await this.start(port);
      } catch (e) {
        if (i === 49) throw e;
        await sleep(100);
      }
    }
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /* The URL a user opens: it carries the token once, then a cookie. */
  get loginUrl() {
    return `${this.base}/?token=${this.token}`;
  }

  async api(method, path, body) {
    const r = await fetch(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return json;
  }

  /* Runs the CLI against this daemon (its unix socket). */
  tl(...args) {
    return execFileSync(TL_BIN, args, {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", TASKLIGHT_DATA_DIR: this.dir },
      timeout: 20000,
    });
  }
}

/* Debian's Chromium with a fresh profile; returns a persistent context
 * (close() removes the profile). */
export async function launchBrowser(options = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), "tl-chromium-"));
  const args = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return context;
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/* Polls fn until it returns a truthy value or timeout ms pass. */
export async function until(fn, timeout = 5000, what = "condition") {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}
