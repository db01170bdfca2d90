// The web UI in a real headless Chromium (Debian's, driven by playwright-core) against a
// real `orderflow serve` with short timeouts. Each test saves screenshots to
// e2e/screenshots/. Run with ORDERFLOW_BIN pointing at the binary (the test command does).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

const BIN = process.env.ORDERFLOW_BIN ?? new URL("../../target/debug/orderflow", import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = new URL("./screenshots/", import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

const servers = [];
let context;

/** Start orderflow on a free port with a fresh data dir; resolves to its URL. */
async function serve(...args) {
  const dir = mkdtempSync(join(tmpdir(), "orderflow-ui-"));
  const child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--demo", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  servers.push({ child, dir });
  return await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("orderflow did not start")), 30_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`orderflow exited with ${code}`)));
  });
}

before(async () => {
  const profile = mkdtempSync(join(tmpdir(), "orderflow-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await context?.close();
  for (const { child, dir } of servers) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A new page on `url` that fails the test on any request leaving the server. */
async function open(url) {
  const page = await context.newPage();
  const outside = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith("data:")) outside.push(r.url());
  });
  page.outside = outside;
  await page.goto(url);
  await page.locator('tr[data-product="coffee-beans"]').waitFor();
  return page;
}

async function place(page, user, product, quantity) {
  const form = page.getByRole("form", { name: "Place an order" });
  await form.getByLabel("User").fill(user);
  await form.getByLabel("Product").selectOption(product);
  await form.getByLabel("Quantity").fill(String(quantity));
  await form.getByRole("button", { name: "Place order" }).click();
}

/** The row of the newest order of `user` (filtering the list by that user). */
async function rowOf(page, user) {
  await page.getByRole("search").getByLabel("User").fill(user);
  const row = page.locator("tr[data-order]").first();
  await row.waitFor();
  return row;
}

test("an order placed and paid now goes through processing to completed", async () => {
  const url = await serve("--processing-delay", "1500ms");
  const page = await open(url);
  await place(page, "ui-alice", "coffee-beans", 2);
  await page.getByRole("status").filter({ hasText: "placed" }).waitFor();
  const row = await rowOf(page, "ui-alice");
  await assert.doesNotReject(row.locator(".countdown").waitFor());
  assert.equal(await row.getAttribute("data-status"), "1");
  assert.equal(await page.locator('tr[data-product="coffee-beans"] .locked').textContent(), "2");
  await page.screenshot({ path: join(SHOTS, "1-placed.png"), fullPage: true });

  await row.getByRole("button", { name: "Pay now" }).click();
  await page.locator('tr[data-order][data-status="2"]').waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(SHOTS, "2-processing.png"), fullPage: true });
  await page.locator('tr[data-order][data-status="3"]').waitFor({ timeout: 15_000 });
  assert.match(await row.locator(".badge").textContent(), /completed/);
  assert.equal(await page.locator('tr[data-product="coffee-beans"] .locked').textContent(), "0");
  assert.equal(await page.locator('tr[data-product="coffee-beans"] .stock').textContent(), "98");
  await page.screenshot({ path: join(SHOTS, "3-completed.png"), fullPage: true });
  assert.deepEqual(page.outside, [], "no request leaves the server");
});

test("an unpaid order times out, and paying it late ends in a completed refund", async () => {
  const url = await serve("--payment-timeout", "3s", "--sweep-schedule", "* * * * * *", "--refund-delay", "1s");
  const page = await open(url);
  await place(page, "ui-bob", "espresso-cup", 3);
  const row = await rowOf(page, "ui-bob");
  // A few seconds left (the page's clock ticks every 250 ms, so it may lag a moment).
  assert.match(await row.locator(".countdown").textContent(), /^0:0[1-5]$/);
  await page.screenshot({ path: join(SHOTS, "4-counting-down.png"), fullPage: true });
  await page.locator('tr[data-order][data-status="4"]').waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('tr[data-product="espresso-cup"] .stock').textContent(), "25", "stock back");
  await page.screenshot({ path: join(SHOTS, "5-timed-out.png"), fullPage: true });

  await row.getByRole("button", { name: "Pay (late)" }).click();
  await page.locator('tr[data-order][data-refund="initiated"], tr[data-order][data-refund="completed"]').first().waitFor({ timeout: 10_000 });
  await page.locator('tr[data-order][data-refund="completed"]').waitFor({ timeout: 15_000 });
  assert.equal(await row.getAttribute("data-status"), "4", "still timed out");
  assert.match(await row.locator(".refund").textContent(), /completed/);
  await page.screenshot({ path: join(SHOTS, "6-refunded.png"), fullPage: true });
});

test("ordering more than there is shows the out-of-stock error", async () => {
  const url = await serve();
  const page = await open(url);
  await place(page, "ui-carol", "limited-grinder", 6);
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Out of stock/);
  assert.match(await alert.textContent(), /out_of_stock/);
  assert.equal(await page.locator('tr[data-product="limited-grinder"] .stock').textContent(), "5");
  await page.screenshot({ path: join(SHOTS, "7-out-of-stock.png"), fullPage: true });
});

test("setting stock asks for the admin token when the server needs one", async () => {
  const url = await serve("--admin-token", "s3cret");
  const page = await open(url);
  const form = page.getByRole("form", { name: "Set stock" });
  await form.getByLabel("Product").fill("tea");
  await form.getByLabel("Stock").fill("12");
  await form.getByRole("button", { name: "Set stock" }).click();
  const alert = form.locator("..").getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /admin token/);
  // Without the token the stream of changes is refused (401): the page polls.
  await page.getByRole("status", { name: "Updates: Polling" }).waitFor();
  await page.getByLabel("Admin token").fill("s3cret");
  // With it, the stream opens: fetch() sends the token, which EventSource could not.
  await page.getByRole("status", { name: "Updates: Live" }).waitFor({ timeout: 10_000 });
  await form.getByRole("button", { name: "Set stock" }).click();
  await page.locator('tr[data-product="tea"] .stock', { hasText: "12" }).waitFor();
  await page.screenshot({ path: join(SHOTS, "8-stock-set.png"), fullPage: true });
});

test("on a phone-sized screen the page stays usable", async () => {
  const url = await serve();
  const page = await open(url);
  await page.setViewportSize({ width: 390, height: 844 });
  await place(page, "ui-dan", "coffee-beans", 1);
  const row = await rowOf(page, "ui-dan");
  // The row's actions are reachable without scrolling sideways.
  const box = await row.getByRole("button", { name: "Pay now" }).boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
  // And by keyboard: focus the button and press Enter.
  await row.getByRole("button", { name: "Pay now" }).focus();
  await page.keyboard.press("Enter");
  await page.locator('tr[data-order][data-status="3"]').waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(SHOTS, "9-phone.png"), fullPage: true });
});

test("the timeline of a paid order shows placed → paid → processing → completed, pushed live without reloading", async () => {
  const url = await serve("--processing-delay", "1500ms");
  const page = await open(url);
  await page.getByRole("status", { name: "Updates: Live" }).waitFor({ timeout: 10_000 });
  await place(page, "ui-erin", "coffee-beans", 1);
  await page.getByRole("status").filter({ hasText: "placed" }).waitFor();
  const row = await rowOf(page, "ui-erin");
  const orderId = await row.getAttribute("data-order");

  // Open its details by keyboard from the list: the focus moves to the panel.
  await row.getByRole("button", { name: /details and timeline/ }).focus();
  await page.keyboard.press("Enter");
  const detail = page.locator(`section[data-detail="${orderId}"]`);
  await detail.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "detail-title");
  assert.equal(new URL(page.url()).hash, `#order/${orderId}`);
  const timeline = detail.getByRole("list", { name: "Timeline" });
  await timeline.locator('li[data-type="placed"]').waitFor();
  assert.match(await detail.locator(".facts").textContent(), new RegExp(orderId));

  // From here on the page must not reload: a marker on window would not survive one.
  await page.evaluate(() => {
    window.__sameDocument = "still here";
  });
  // While live, the page does not poll: once the placing has settled (its event refreshes
  // the list once), count what the page asks for while nothing happens.
  await page.waitForTimeout(1000);
  const asked = [];
  const onRequest = (r) => asked.push(new URL(r.url()).pathname);
  page.on("request", onRequest);
  await page.waitForTimeout(2500);
  page.off("request", onRequest);
  assert.deepEqual(asked, [], "no polling while the stream is live");

  await detail.getByRole("button", { name: "Pay now" }).click();
  await timeline.locator('li[data-type="completed"]').waitFor({ timeout: 15_000 });
  const types = await timeline.locator("li").evaluateAll((lis) => lis.map((li) => li.dataset.type));
  assert.deepEqual(types, ["placed", "paid", "processing", "completed"]);
  // Each event with its label and code, its source and the state after it.
  const last = timeline.locator('li[data-type="completed"]');
  assert.match(await last.textContent(), /Completed\s*completed/);
  assert.match(await last.textContent(), /queue consumer\s*consumer/);
  assert.match(await last.locator(".badge").textContent(), /completed\s*3/);
  assert.match(await timeline.locator('li[data-type="paid"]').textContent(), /payment webhook\s*webhook/);
  assert.match(await detail.locator(".facts .status").textContent(), /completed/);
  // The list and the stock counters followed the same events.
  await page.locator(`tr[data-order="${orderId}"][data-status="3"]`).waitFor({ timeout: 2000 });
  await page.locator('tr[data-product="coffee-beans"] .locked', { hasText: /^0$/ }).waitFor({ timeout: 2000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), "still here", "the page did not reload");
  assert.equal(await page.getByRole("status", { name: "Updates: Live" }).count(), 1);
  await page.screenshot({ path: join(SHOTS, "10-timeline.png"), fullPage: true });

  // Escape closes the panel and gives the focus back to the order in the list.
  await detail.getByRole("button", { name: "Refund" }).focus();
  await page.keyboard.press("Escape");
  await detail.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement?.closest("tr")?.dataset.order), orderId);
  assert.deepEqual(page.outside, [], "no request leaves the server");
});
