import { describe, expect, it } from "vitest";

import type { Order } from "./api";
import { actionsFor, formatRemaining, shortId } from "./logic";

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
    expect(shortId("0f8fad5b-d9cb-469f-a165-70867728950e")).toBe("0f8fad5b");
  });
});
