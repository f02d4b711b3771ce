// The demo page in a real browser: Debian's chromium driven by playwright-core,
// two browser contexts (the agent, the customer) on /demo of a real
// docshare-server, the session started with the real docshare-cli.
//   node demo.test.mjs <docshare-server> <docshare-cli> <artifacts dir> <corpus dir>
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [serverBinary, cliBinary, artifacts, corpus] = process.argv.slice(2);
const ADMIN_TOKEN = "web-demo-admin-token-0123456789abcdef";
const LIMIT_MS = 120_000; // a bound for a loaded machine, not a measurement

// Resolves with {grpc, http} once the server logs "started".
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

const exited = (child) => new Promise((resolve) => child.on("exit", resolve));

// The figures of the customer pane once `n` are there with their image loaded.
async function loadedFigures(page, n) {
  await page.waitForFunction(
    (want) => {
      const imgs = [...document.querySelectorAll("#documents img")];
      return imgs.length === want && imgs.every((i) => i.complete && i.naturalWidth > 0);
    },
    n, { timeout: LIMIT_MS });
  return page.$$eval("#documents figure", (figures) => figures.map((f) => ({
    filename: f.dataset.filename,
    naturalWidth: f.querySelector("img").naturalWidth,
    src: f.querySelector("img").src,
  })));
}

// Polls `probe` until it returns true or LIMIT_MS pass; the last value.
async function eventually(probe) {
  const until = Date.now() + LIMIT_MS;
  let ok = await probe();
  while (!ok && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ok = await probe();
  }
  return ok;
}

test("agent shares JPEG, PNG and GIF; PDF dimmed; the customer sees them (the agent " +
     "sees it), reload replays, withdraw removes one and its URL is gone",
  async () => {
    const scratch = mkdtempSync(join(tmpdir(), "docshare-demo-"));
    mkdirSync(artifacts, { recursive: true });
    const pdf = join(scratch, "report.pdf");
    writeFileSync(pdf, "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    const files = [pdf, join(corpus, "sharp/320x240.jpg"),
                   join(corpus, "sharp/Flag_of_the_Netherlands.png"),
                   join(corpus, "sharp/animated-loop-3.gif")];

    const server = spawn(serverBinary, [
      "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
      "--http-address=127.0.0.1:0", `--admin-token=${ADMIN_TOKEN}`, "--demo=true",
      "--render-isolation=thread", "--token-share-rate=0",
    ], { stdio: ["ignore", "pipe", "inherit"] });
    const serverExit = exited(server);
    let browser;
    try {
      const ports = await started(server);
      const out = execFileSync(cliBinary, ["--address", `127.0.0.1:${ports.grpc}`,
                                           "--token", ADMIN_TOKEN, "start", "demo"]);
      const tokens = Object.fromEntries(String(out).trim().split("\n")
        .map((line) => line.split("=", 2)));
      const demo = `http://127.0.0.1:${ports.http}/demo#session=demo`;

      browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"],
      });
      const errors = [];
      const agent = await (await browser.newContext()).newPage();
      const customer = await (await browser.newContext()).newPage();
      for (const page of [agent, customer]) page.on("pageerror", (e) => errors.push(String(e)));
      await agent.goto(`${demo}&agent=${encodeURIComponent(tokens.AGENT_TOKEN)}`);
      await customer.goto(`${demo}&consumer=${encodeURIComponent(tokens.CONSUMER_TOKEN)}`);
      await agent.locator("#agent-state", { hasText: "ready" }).waitFor({ timeout: LIMIT_MS });
      await customer.locator("#consumer-state", { hasText: "open" })
        .waitFor({ timeout: LIMIT_MS });

      await agent.setInputFiles("#picker", files);
      await agent.locator("#agent-state", { hasText: "checked 4" })
        .waitFor({ timeout: LIMIT_MS });
      const refused = agent.locator('li[data-file="report.pdf"]');
      assert.equal(await refused.getAttribute("class"), "refused");
      assert.equal(await refused.locator(".reason").textContent(),
                   "REJECT_REASON_UNSUPPORTED_TYPE");
      assert.equal(await refused.evaluate((e) => getComputedStyle(e).opacity), "0.4");
      assert.equal(await refused.locator("button").count(), 0, "nothing to share");

      for (const name of ["320x240.jpg", "Flag_of_the_Netherlands.png", "animated-loop-3.gif"]) {
        const row = agent.locator(`li[data-file="${name}"]`);
        await row.locator("button").click();
        await row.locator("text=shared").waitFor({ timeout: LIMIT_MS });
      }
      await agent.screenshot({ path: join(artifacts, "demo-agent.png"), fullPage: true });

      const seen = await loadedFigures(customer, 3);
      await customer.screenshot({ path: join(artifacts, "demo-customer.png"), fullPage: true });
      assert.deepEqual(seen.map((f) => f.filename),
                       ["320x240.jpg", "Flag_of_the_Netherlands.png", "animated-loop-3.gif"]);
      // The customer's page acknowledged each image once it had loaded: the
      // agent sees "seen by customer" on every shared row.
      for (const f of seen) {
        await agent.locator(`li[data-file="${f.filename}"][data-seen="displayed"]`)
          .waitFor({ timeout: LIMIT_MS });
      }
      assert.equal(await agent.locator(".seen").count(), 3);
      assert.equal(await agent.locator('li[data-file="320x240.jpg"] .seen').textContent(),
                   "seen by customer");
      await agent.screenshot({ path: join(artifacts, "demo-agent-seen.png"), fullPage: true });
      assert.equal(seen[0].naturalWidth, 320);
      for (const f of seen) assert.ok(f.naturalWidth > 0, f.filename);
      // The GIF's display preview keeps its animation: its pixels change.
      const gif = customer.locator('figure[data-filename="animated-loop-3.gif"] img');
      const first = await gif.screenshot();
      const until = Date.now() + LIMIT_MS;
      let animated = false;
      while (!animated && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        animated = !first.equals(await gif.screenshot());
      }
      assert.ok(animated, "the animated GIF's preview animates");

      // A reload replays the session: the same documents, in order.
      await customer.reload();
      const replayed = await loadedFigures(customer, 3);
      assert.deepEqual(replayed.map((f) => f.filename), seen.map((f) => f.filename));
      await customer.screenshot({ path: join(artifacts, "demo-customer-reloaded.png"),
                                  fullPage: true });

      // Withdraw the JPEG: it leaves the customer's pane, its URL answers 410.
      const jpegUrl = seen[0].src;
      assert.equal(await customer.evaluate(
        async (url) => (await fetch(url, { cache: "no-store" })).status, jpegUrl), 200);
      await agent.locator('li[data-file="320x240.jpg"] button.withdraw').click();
      await customer.waitForFunction(
        () => !document.querySelector('#documents figure[data-filename="320x240.jpg"]'),
        null, { timeout: LIMIT_MS });
      assert.deepEqual(
        await customer.$$eval("#documents figure", (fs) => fs.map((f) => f.dataset.filename)),
        ["Flag_of_the_Netherlands.png", "animated-loop-3.gif"]);
      await agent.locator('li[data-file="320x240.jpg"].withdrawn')
        .waitFor({ timeout: LIMIT_MS });
      // A replica trusts its preview cache for a second: the URL is gone
      // within that, for good.
      const status = () => customer.evaluate(
        async (url) => (await fetch(url, { cache: "no-store" })).status, jpegUrl);
      assert.ok(await eventually(async () => (await status()) === 410), "410 after withdraw");
      const curl = execFileSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}",
                                         jpegUrl]);
      assert.equal(String(curl), "410");
      await agent.screenshot({ path: join(artifacts, "demo-agent-withdrawn.png"),
                               fullPage: true });
      await customer.screenshot({ path: join(artifacts, "demo-customer-withdrawn.png"),
                                  fullPage: true });
      // A reload does not bring it back (the replay's DocumentShared has no URLs).
      await customer.reload();
      const after = await loadedFigures(customer, 2);
      assert.deepEqual(after.map((f) => f.filename),
                       ["Flag_of_the_Netherlands.png", "animated-loop-3.gif"]);
      assert.deepEqual(errors, []);
    } finally {
      if (browser) await browser.close();
      server.kill("SIGTERM");
      rmSync(scratch, { recursive: true, force: true });
    }
    assert.equal(await serverExit, 0, "SIGTERM drains (the SSE streams end) and exits 0");
  });
