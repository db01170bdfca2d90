import { describe, expect, it, vi } from "vitest";

import type { Order } from "./api";
import { actionsFor, eventLabel, formatRemaining, itemsOf, limitText, maxPerUserOf, shortId, sourceLabel, throttle } from "./logic";

function order(o: Partial<Order>): Order {
  return {
    orderId: "0f8fad5b-d9cb-469f-a165-70867728950e",
    userId: "u",
    productId: "p",
    quantity: 1,
    orderStatus: 1,
    status: "pending",
    paymentStatus: "pending",
    paymentTime: null,
    paymentId: null,
    refundStatus: "none",
    createdAt: "2026-11-25T08:00:00.000Z",
    updatedAt: "2026-11-25T08:00:00.000Z",
    expiresAt: "2026-11-25T08:30:00.000Z",
    ...o,
  };
}

describe("countdown", () => {
  it("shows minutes and seconds, rounding up", () => {
    expect(formatRemaining(30 * 60 * 1000)).toBe("30:00");
    expect(formatRemaining(65_000)).toBe("1:05");
    expect(formatRemaining(9_001)).toBe("0:10");
    expect(formatRemaining(1)).toBe("0:01");
  });
  it("shows hours past an hour", () => {
    expect(formatRemaining(3_723_000)).toBe("1:02:03");
  });
  it("says expired at and after the deadline", () => {
    expect(formatRemaining(0)).toBe("expired");
    expect(formatRemaining(-5_000)).toBe("expired");
  });
});

describe("actions", () => {
  it("offers paying or failing only while unpaid and pending", () => {
    expect(actionsFor(order({}))).toEqual(["pay", "payLater", "fail"]);
    expect(actionsFor(order({ paymentStatus: "success" }))).toEqual(["refund"]);
    expect(actionsFor(order({ orderStatus: 2, paymentStatus: "success" }))).toEqual(["refund"]);
  });
  it("offers a late payment on timed-out or failed orders, then a refund is automatic", () => {
    expect(actionsFor(order({ orderStatus: 4 }))).toEqual(["payLate"]);
    expect(actionsFor(order({ orderStatus: 5, paymentStatus: "failed" }))).toEqual(["payLate"]);
    expect(actionsFor(order({ orderStatus: 4, paymentStatus: "success", refundStatus: "initiated" }))).toEqual([]);
  });
  it("offers a refund once", () => {
    expect(actionsFor(order({ orderStatus: 3, paymentStatus: "success" }))).toEqual(["refund"]);
    expect(actionsFor(order({ orderStatus: 3, paymentStatus: "success", refundStatus: "completed" }))).toEqual([]);
  });
  it("shortens ids", () => {
    expect(shortId("0f8fad5b-d9cb-469f-a165-70867728950e")).toBe("7728950e");
    // Two UUIDv7 made in the same millisecond differ in their short ids.
    expect(shortId("019ab3c2-7f10-7a1b-9c3d-5e6f7a8b9c0d")).not.toBe(
      shortId("019ab3c2-7f10-7a1b-8f00-112233445566"),
    );
  });
});

describe("history words", () => {
  it("labels every event type and source of the contract", () => {
    for (const t of ["placed", "paid", "paid_late", "payment_failed", "processing", "completed", "timed_out", "refund_requested", "refund_completed"]) {
      expect(eventLabel(t)).not.toBe(t);
    }
    for (const s of ["api", "webhook", "consumer", "sweeper", "refund"]) expect(sourceLabel(s)).not.toBe(s);
    expect(eventLabel("new_kind")).toBe("new_kind");
  });
});

describe("itemsOf", () => {
  it("takes items when there are, else the one line", () => {
    expect(itemsOf(order({}))).toEqual([{ productId: "p", quantity: 1 }]);
    const two = [
      { productId: "a", quantity: 2 },
      { productId: "b", quantity: 1 },
    ];
    expect(itemsOf(order({ items: two, productId: null, quantity: null }))).toEqual(two);
    // A one-line order from a server with carts: its items, the same as its fields.
    expect(itemsOf(order({ items: [{ productId: "p", quantity: 3 }], quantity: 3 }))).toEqual([{ productId: "p", quantity: 3 }]);
  });
  it("never makes a line of a null product", () => {
    expect(itemsOf(order({ items: [], productId: null, quantity: null }))).toEqual([]);
  });
});

describe("limits per customer", () => {
  it("says no limit for null or absent", () => {
    expect(limitText(null)).toBe("no limit");
    expect(limitText(undefined)).toBe("no limit");
    expect(limitText(3)).toBe("3");
  });
  it("keeps (field left out), removes (null) or sets the limit", () => {
    expect(maxPerUserOf("keep", "abc")).toEqual({ ok: true, maxPerUser: undefined });
    expect(maxPerUserOf("none", "")).toEqual({ ok: true, maxPerUser: null });
    expect(maxPerUserOf("set", " 2 ")).toEqual({ ok: true, maxPerUser: 2 });
    expect(maxPerUserOf("set", "1000000")).toEqual({ ok: true, maxPerUser: 1_000_000 });
  });
  it("refuses a limit outside 1..10^6", () => {
    for (const t of ["", "0", "1000001", "2.5", "-1", "1e3"]) expect(maxPerUserOf("set", t).ok, t).toBe(false);
  });
});

describe("throttle", () => {
  it("calls at once, folds a burst into one more call at the end, and at most once per window", () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      const th = throttle(() => n++, 100);
      th();
      expect(n).toBe(1);
      th();
      th();
      vi.advanceTimersByTime(99);
      expect(n).toBe(1);
      vi.advanceTimersByTime(1);
      expect(n).toBe(2);
      // A steady stream of calls: one per window.
      for (let i = 0; i < 20; i++) {
        th();
        vi.advanceTimersByTime(25);
      }
      // Calls from 100 to 575 ms: one at the end of each window (200, 300, 400, 500, 600).
      expect(n).toBe(7);
      vi.advanceTimersByTime(200);
      expect(n).toBe(7);
      // Quiet again: the next call runs at once.
      th();
      expect(n).toBe(8);
      th();
      th.cancel();
      vi.advanceTimersByTime(1000);
      expect(n).toBe(8);
      th();
      expect(n).toBe(9);
    } finally {
      vi.useRealTimers();
    }
  });
});
