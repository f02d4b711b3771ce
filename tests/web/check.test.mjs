// A real browser checks files through /v1/check: Debian's chromium driven by
// playwright-core against a real docshare-server on loopback.
//   node check.test.mjs <docshare-server> <artifacts dir> <a JPEG>
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const [serverBinary, artifacts, jpegPath] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const ADMIN_TOKEN = "web-test-admin-token-0123456789abcdef";
const LIMIT_MS = 120_000; // a bound for a loaded machine, not a measurement

// Resolves with the value `pick` finds in the server's log lines (JSON on stdout).
function waitForLog(child, pick) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no start-up line:\n${seen}`)), LIMIT_MS);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      for (const line of seen.split("\n")) {
        const value = pick(line);
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        }
      }
    });
    child.on("exit", (code) => reject(new Error(`server exited ${code}:\n${seen}`)));
  });
}

function exited(child) {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

test("chromium checks a JPEG (supported) and a PDF (refused with its reason)", async () => {
  const scratch = mkdtempSync(join(tmpdir(), "docshare-web-"));
  mkdirSync(artifacts, { recursive: true });
  const pdf = join(scratch, "report.pdf");
  writeFileSync(pdf, "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");

  // The page, on an origin of its own.
  const page_html = readFileSync(join(here, "check_page.html"));
  const pages = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(page_html);
  });
  await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
  const pageOrigin = `http://127.0.0.1:${pages.address().port}`;

  const server = spawn(serverBinary, [
    "--grpc-address=127.0.0.1:0", "--metrics-address=127.0.0.1:0",
    "--http-address=127.0.0.1:0", `--admin-token=${ADMIN_TOKEN}`,
    `--cors-origins=${pageOrigin}`, "--render-isolation=thread",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const serverExit = exited(server);
  let browser;
  try {
    const httpPort = await waitForLog(server, (line) => {
      const m = line.match(/"http_port":\s*(\d+)/);
      return m ? Number(m[1]) : undefined;
    });
    const docshare = `http://127.0.0.1:${httpPort}`;

    browser = await chromium.launchPersistentContext(join(scratch, "profile"), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${pageOrigin}/?server=${encodeURIComponent(docshare)}` +
                    `&token=${encodeURIComponent(ADMIN_TOKEN)}`);
    await page.locator("#status", { hasText: "ready" }).waitFor({ timeout: LIMIT_MS });

    await page.setInputFiles("#picker", [jpegPath, pdf]);
    await page.locator("#status", { hasText: "checked 2" }).waitFor({ timeout: LIMIT_MS });
    await page.screenshot({ path: join(artifacts, "check.png"), fullPage: true });

    const jpegName = jpegPath.split("/").pop();
    const jpeg = page.locator(`li[data-file="${jpegName}"]`);
    const refused = page.locator('li[data-file="report.pdf"]');
    assert.equal(await jpeg.getAttribute("class"), "supported");
    assert.match(await jpeg.textContent(), /image\/jpeg supported/);
    assert.equal(await refused.getAttribute("class"), "refused");
    assert.equal(await refused.locator(".reason").textContent(),
                 "REJECT_REASON_UNSUPPORTED_TYPE");
    assert.match(await refused.textContent(), /application\/pdf/);
    // The dimmed row is what the user sees.
    assert.equal(await refused.evaluate((e) => getComputedStyle(e).opacity), "0.4");
    assert.deepEqual(errors, []);
  } finally {
    if (browser) await browser.close();
    pages.close();
    server.kill("SIGTERM");
    rmSync(scratch, { recursive: true, force: true });
  }
  assert.equal(await serverExit, 0, "SIGTERM drains and exits 0");
});
