// Two docshare-server replicas on one real redis-server behind a small
// fail-over proxy (what a Kubernetes Service does for the page): the customer's
// page watches through the proxy, one replica gets SIGTERM, and the page
// carries on from the other (EventSource resumes; previews come from Redis).
//   node replicas.test.mjs <docshare-server> <docshare-cli> <artifacts dir> <corpus dir>
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer, request } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [serverBinary, cliBinary, artifacts, corpus] = process.argv.slice(2);
const ADMIN_TOKEN = "web-replicas-admin-token-0123456789abc";
const SECRET = "web-replicas-token-secret-0123456789abcdef";
const LIMIT_MS = 120_000; // a bound for a loaded machine, not a measurement

const exited = (child) => new Promise((resolve) => child.on("exit", resolve));

function freePort() {
  return new Promise((resolve) => {
    const probe = createTcpServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function started(child) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no start-up line:\n${seen}`)), LIMIT_MS);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const grpc = seen.match(/"grpc_port":\s*(\d+)/);
      const http = seen.match(/"http_port":\s*(\d+)/);
      if (grpc && http) {
        clearTimeout(timer);
        resolve({ grpc: Number(grpc[1]), http: Number(http[1]) });
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}:\n${seen}`)));
  });
}

// Forwards each request to the first backend that takes the connection.
function failoverProxy(backends) {
  return createServer((req, res) => {
    const attempt = (i) => {
      if (i >= backends.length) {
        res.writeHead(502);
        return res.end();
      }
      const upstream = request({ host: "127.0.0.1", port: backends[i], method: req.method,
                                 path: req.url, headers: req.headers, agent: false },
                               (answer) => {
                                 res.writeHead(answer.statusCode, answer.headers);
                                 answer.pipe(res);
                               });
      upstream.on("error", (e) => {
        if (!res.headersSent) attempt(i + 1);
        else res.destroy(e);
      });
      req.pipe(upstream);
    };
    attempt(0);
  });
}

test("SIGTERM of one of two Redis replicas: the page carries on from the other", async () => {
  mkdirSync(artifacts, { recursive: true });
  const redisPort = await freePort();
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no"],
                      { stdio: "ignore" });
  const replicas = [];
  let browser;
  let proxy;
  try {
    for (let i = 0; i < 2; ++i) {
      const child = spawn(serverBinary, [
        "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0", `--admin-token=${ADMIN_TOKEN}`,
        `--token-secret=${SECRET}`, `--backplane=redis://127.0.0.1:${redisPort}`,
        "--demo=true", "--render-isolation=thread", "--token-share-rate=0",
        "--drain-timeout=5",
      ], { stdio: ["ignore", "pipe", "inherit"] });
      replicas.push({ child, exit: exited(child), ports: await started(child) });
    }
    proxy = failoverProxy(replicas.map((r) => r.ports.http));
    await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const front = `http://127.0.0.1:${proxy.address().port}`;

    // The session starts once Redis is reachable (the replicas connect lazily).
    let out;
    const until = Date.now() + LIMIT_MS;
    while (!out) {
      try {
        out = execFileSync(cliBinary, ["--address", `127.0.0.1:${replicas[1].ports.grpc}`,
                                       "--token", ADMIN_TOKEN, "start", "ha"]);
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    const tokens = Object.fromEntries(String(out).trim().split("\n")
      .map((line) => line.split("=", 2)));
    const share = (file) => execFileSync(cliBinary, [
      "--address", `127.0.0.1:${replicas[1].ports.grpc}`, "--token", tokens.AGENT_TOKEN,
      "share", "ha", join(corpus, file)]);

    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium", headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update"],
    });
    const customer = await (await browser.newContext()).newPage();
    const errors = [];
    customer.on("pageerror", (e) => errors.push(String(e)));
    await customer.goto(`${front}/demo#session=ha&consumer=` +
                        encodeURIComponent(tokens.CONSUMER_TOKEN));
    share("sharp/320x240.jpg");
    const loaded = (n) => customer.waitForFunction((want) => {
      const imgs = [...document.querySelectorAll("#documents img")];
      return imgs.length === want && imgs.every((i) => i.complete && i.naturalWidth > 0);
    }, n, { timeout: LIMIT_MS });
    await loaded(1);

    // The replica the proxy prefers (the one serving the page) goes away.
    replicas[0].child.kill("SIGTERM");
    assert.equal(await replicas[0].exit, 0, "the replica drains and exits 0");
    share("sharp/Flag_of_the_Netherlands.png");
    await loaded(2);
    await customer.screenshot({ path: join(artifacts, "replicas-after-sigterm.png"),
                                fullPage: true });
    const names = await customer.$$eval("#documents figure", (f) =>
      f.map((e) => e.dataset.filename));
    assert.deepEqual(names, ["320x240.jpg", "Flag_of_the_Netherlands.png"],
                     "each document once, in order, across the resume");
    assert.deepEqual(errors, []);
  } finally {
    if (browser) await browser.close();
    if (proxy) proxy.close();
    for (const r of replicas) r.child.kill("SIGTERM");
    await Promise.all(replicas.map((r) => r.exit));
    redis.kill("SIGTERM");
  }
});
