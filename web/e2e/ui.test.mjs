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

async function addToCart(page, product, quantity) {
  const form = page.getByRole("form", { name: "Add to cart" });
  await form.getByLabel("Product").selectOption(product);
  await form.getByLabel("Quantity").fill(String(quantity));
  await form.getByRole("button", { name: "Add to cart" }).click();
  await page.locator(`table[aria-label="Cart"] tr[data-line="${product}"]`).waitFor();
}

/** Place the cart as `user`'s order. */
async function placeCart(page, user) {
  const form = page.getByRole("form", { name: "Place an order" });
  await form.getByLabel("User").fill(user);
  await form.getByRole("button", { name: "Place order" }).click();
}

/** One product: a cart of one line (sent in the one-product form, which every server takes). */
async function place(page, user, product, quantity) {
  await addToCart(page, product, quantity);
  await placeCart(page, user);
}

/** Retries `check` (an assertion) for up to `ms`: the page shows an input's effect a moment later. */
async function eventually(check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The products of a cart's or an order's lines, in order. */
async function lineIds(locator) {
  return await locator.locator("[data-line]").evaluateAll((els) => els.map((el) => el.dataset.line));
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
  // The cart's one line is the one short, named in the answer or not (a server before carts).
  await page.locator('table[aria-label="Cart"] tr[data-line="limited-grinder"][data-problem="out_of_stock"]').waitFor();
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

// The cart tests need a server with carts (`items`, `maxPerUser`, `details.productIds`).

test("a cart of three products is placed as one order, which shows its three lines", async () => {
  const url = await serve();
  const page = await open(url);
  // What the page sends: the cart as one order, its lines as items.
  const sent = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/order") sent.push(r.postDataJSON());
  });
  await addToCart(page, "coffee-beans", 1);
  await addToCart(page, "espresso-cup", 2);
  await addToCart(page, "limited-grinder", 1);
  const cart = page.getByRole("table", { name: "Cart" });
  // The same product again goes into its line.
  await addToCart(page, "coffee-beans", 1);
  assert.deepEqual(await lineIds(cart), ["coffee-beans", "espresso-cup", "limited-grinder"]);
  await eventually(async () => assert.equal(await cart.getByLabel("Quantity of coffee-beans").inputValue(), "2"));
  // Change a quantity; remove a line and add it back (last now).
  await cart.getByLabel("Quantity of espresso-cup").fill("3");
  await cart.getByRole("button", { name: "Remove coffee-beans" }).click();
  await cart.locator('tr[data-line="coffee-beans"]').waitFor({ state: "detached" });
  await addToCart(page, "coffee-beans", 2);
  assert.deepEqual(await lineIds(cart), ["espresso-cup", "limited-grinder", "coffee-beans"]);
  await page.screenshot({ path: join(SHOTS, "11-cart.png"), fullPage: true });

  await placeCart(page, "ui-frank");
  await page.getByRole("status").filter({ hasText: "placed" }).waitFor();
  const lines = [
    { productId: "espresso-cup", quantity: 3 },
    { productId: "limited-grinder", quantity: 1 },
    { productId: "coffee-beans", quantity: 2 },
  ];
  assert.deepEqual(sent, [{ userId: "ui-frank", items: lines }]);
  await page.getByText("The cart is empty").waitFor();

  // The list shows the order's lines, and every line's stock is locked.
  const row = await rowOf(page, "ui-frank");
  assert.equal(await row.getAttribute("data-lines"), "3");
  const rowLines = row.getByRole("list", { name: "Lines" });
  assert.deepEqual(await lineIds(rowLines), ["espresso-cup", "limited-grinder", "coffee-beans"]);
  assert.deepEqual(await rowLines.locator("li").allTextContents(), ["3 × espresso-cup", "1 × limited-grinder", "2 × coffee-beans"]);
  for (const { productId, quantity } of lines) {
    await page.locator(`tr[data-product="${productId}"] .locked`, { hasText: new RegExp(`^${quantity}$`) }).waitFor();
  }

  // And so do its details.
  const orderId = await row.getAttribute("data-order");
  await row.getByRole("button", { name: /details and timeline/ }).click();
  const detail = page.locator(`section[data-detail="${orderId}"]`);
  const detailLines = detail.getByRole("list", { name: "Lines" });
  await detailLines.locator("li").nth(2).waitFor();
  assert.deepEqual(await detailLines.locator("li").allTextContents(), ["3 × espresso-cup", "1 × limited-grinder", "2 × coffee-beans"]);
  await detail.getByRole("list", { name: "Timeline" }).locator('li[data-type="placed"]').waitFor();
  await page.screenshot({ path: join(SHOTS, "12-cart-order.png"), fullPage: true });
  assert.deepEqual(page.outside, [], "no request leaves the server");
});

test("a cart with a line over stock shows which product was short, and goes through once fixed", async () => {
  const url = await serve();
  const page = await open(url);
  await addToCart(page, "coffee-beans", 2);
  await addToCart(page, "limited-grinder", 6);
  await addToCart(page, "espresso-cup", 1);
  await placeCart(page, "ui-grace");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /Out of stock: not enough units left of limited-grinder\./);
  assert.match(await alert.textContent(), /out_of_stock/);
  const cart = page.getByRole("table", { name: "Cart" });
  const short = cart.locator('tr[data-line="limited-grinder"]');
  assert.equal(await short.getAttribute("data-problem"), "out_of_stock");
  assert.match(await short.textContent(), /not enough stock/);
  assert.equal(await cart.locator("tr[data-problem]").count(), 1, "only the short line is marked");
  // All or nothing: no line's stock was locked, and the cart is kept.
  assert.deepEqual(await lineIds(cart), ["coffee-beans", "limited-grinder", "espresso-cup"]);
  for (const p of ["coffee-beans", "limited-grinder", "espresso-cup"]) {
    assert.equal(await page.locator(`tr[data-product="${p}"] .locked`).textContent(), "0", p);
  }
  assert.equal(await page.locator('tr[data-product="limited-grinder"] .stock').textContent(), "5");
  await page.screenshot({ path: join(SHOTS, "13-cart-short.png"), fullPage: true });

  // Down to what there is: the mark goes, and the same cart goes through.
  await cart.getByLabel("Quantity of limited-grinder").fill("5");
  await cart.locator('tr[data-line="limited-grinder"]:not([data-problem])').waitFor();
  await placeCart(page, "ui-grace");
  await page.getByRole("status").filter({ hasText: "placed" }).waitFor();
  assert.equal(await page.getByRole("alert").count(), 0);
  await page.locator('tr[data-product="limited-grinder"] .locked', { hasText: /^5$/ }).waitFor();
  const row = await rowOf(page, "ui-grace");
  assert.equal(await row.getAttribute("data-lines"), "3");
});

test("a limit per customer set in the stock form shows in the list and marks the cart line over it", async () => {
  const url = await serve();
  const page = await open(url);
  assert.equal(await page.locator('tr[data-product="limited-grinder"] .limit').textContent(), "no limit");
  const form = page.getByRole("form", { name: "Set stock" });
  await form.getByLabel("Product").fill("limited-grinder");
  await form.getByLabel("Stock").fill("5");
  await form.getByLabel("Limit per customer").selectOption("set");
  await form.getByLabel("Most per customer").fill("2");
  await form.getByRole("button", { name: "Set stock" }).click();
  await page.locator('tr[data-product="limited-grinder"] .limit', { hasText: /^2$/ }).waitFor();
  assert.equal(await page.locator('tr[data-product="coffee-beans"] .limit').textContent(), "no limit");

  await addToCart(page, "espresso-cup", 1);
  await addToCart(page, "limited-grinder", 3);
  await placeCart(page, "ui-heidi");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /limit per customer for limited-grinder/);
  assert.match(await alert.textContent(), /limit_exceeded/);
  const cart = page.getByRole("table", { name: "Cart" });
  assert.equal(await cart.locator('tr[data-line="limited-grinder"]').getAttribute("data-problem"), "limit_exceeded");
  assert.equal(await cart.locator('tr[data-line="espresso-cup"]').getAttribute("data-problem"), null);
  await page.screenshot({ path: join(SHOTS, "14-cart-limit.png"), fullPage: true });

  // Remove the limit (the stock stays 5): the same cart goes through.
  await form.getByLabel("Limit per customer").selectOption("none");
  await form.getByRole("button", { name: "Set stock" }).click();
  await page.locator('tr[data-product="limited-grinder"] .limit', { hasText: "no limit" }).waitFor();
  await placeCart(page, "ui-heidi");
  await page.getByRole("status").filter({ hasText: "placed" }).waitFor();
  await page.locator('tr[data-product="limited-grinder"] .locked', { hasText: /^3$/ }).waitFor();
});
