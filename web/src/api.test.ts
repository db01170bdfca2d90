import { afterEach, describe, expect, it, vi } from "vitest";

import { api, ApiError } from "./api";

/** Stubs fetch with one answer; returns the recorded calls. */
function answer(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  });
  return calls;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("api", () => {
  it("posts the order body as given", async () => {
    const calls = answer(201, { orderId: "x" });
    const items = [
      { productId: "a", quantity: 2 },
      { productId: "b", quantity: 1 },
    ];
    await api.placeOrder({ userId: "alice", items });
    expect(calls[0].url).toBe("/order");
    expect(calls[0].init.method).toBe("POST");
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ userId: "alice", items });
  });

  it("reads the products an error names from details.productIds", async () => {
    answer(409, { error: { code: "out_of_stock", message: "not enough stock", details: { productIds: ["a", "b"] } } });
    const e = await api.placeOrder({ userId: "alice", productId: "a", quantity: 9 }).catch((e) => e);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("out_of_stock");
    expect(e.status).toBe(409);
    expect(e.productIds).toEqual(["a", "b"]);
  });

  it("names no product when the error has no details", async () => {
    answer(409, { error: { code: "out_of_stock", message: "not enough stock" } });
    const e = await api.placeOrder({ userId: "alice", productId: "a", quantity: 9 }).catch((e) => e);
    expect(e.productIds).toEqual([]);
    expect(new ApiError("x", "y", 400, { productIds: "a" as unknown as string[] }).productIds).toEqual([]);
  });

  it("sets stock keeping, removing or setting the limit per customer", async () => {
    const calls = answer(200, {});
    await api.setStock("tea", 5);
    await api.setStock("tea", 5, null);
    await api.setStock("tea", 5, 2);
    expect(calls.map((c) => c.url)).toEqual(["/inventory/tea", "/inventory/tea", "/inventory/tea"]);
    expect(calls.map((c) => c.init.method)).toEqual(["PUT", "PUT", "PUT"]);
    expect(calls.map((c) => JSON.parse(String(c.init.body)))).toEqual([
      { stockCount: 5 },
      { stockCount: 5, maxPerUser: null },
      { stockCount: 5, maxPerUser: 2 },
    ]);
  });
});
