import { describe, expect, it } from "vitest";

import { ApiError } from "./api";
import {
  addLine,
  MAX_LINES,
  orderBody,
  parseQuantity,
  problemLines,
  removeLine,
  setQuantity,
  totalUnits,
  type CartChange,
  type CartLine,
} from "./cart";

/** The cart of a change that must succeed. */
function ok(r: CartChange): CartLine[] {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.cart;
}

const three: CartLine[] = [
  { productId: "coffee-beans", quantity: 2 },
  { productId: "espresso-cup", quantity: 1 },
  { productId: "limited-grinder", quantity: 6 },
];

describe("parseQuantity", () => {
  it("takes whole numbers from 1 to 1000", () => {
    expect(parseQuantity("1")).toBe(1);
    expect(parseQuantity(" 42 ")).toBe(42);
    expect(parseQuantity("007")).toBe(7);
    expect(parseQuantity("1000")).toBe(1000);
  });
  it("refuses anything else", () => {
    for (const t of ["", " ", "0", "1001", "-1", "2.5", "1e2", "0x10", "abc", "99999999999"]) {
      expect(parseQuantity(t), t).toBeNull();
    }
  });
});

describe("addLine", () => {
  it("adds new products as new last lines", () => {
    let cart = ok(addLine([], "coffee-beans", 2));
    cart = ok(addLine(cart, "espresso-cup", 1));
    expect(cart).toEqual([
      { productId: "coffee-beans", quantity: 2 },
      { productId: "espresso-cup", quantity: 1 },
    ]);
  });
  it("merges a product already in the cart into its line, in its place", () => {
    const cart = ok(addLine(three, "coffee-beans", 3));
    expect(cart.map((l) => l.productId)).toEqual(["coffee-beans", "espresso-cup", "limited-grinder"]);
    expect(cart[0].quantity).toBe(5);
    // The cart it came from is unchanged.
    expect(three[0].quantity).toBe(2);
  });
  it("refuses a merge past 1000 of one product, and leaves the cart as it was", () => {
    const full = ok(addLine([], "coffee-beans", 999));
    expect(ok(addLine(full, "coffee-beans", 1))[0].quantity).toBe(1000);
    const r = addLine(full, "coffee-beans", 2);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/At most 1000.*999 × coffee-beans/);
  });
  it("refuses quantities outside 1..1000 and no product", () => {
    for (const q of [0, -1, 1001, 1.5, NaN]) expect(addLine([], "coffee-beans", q).ok, String(q)).toBe(false);
    expect(addLine([], "", 1).ok).toBe(false);
  });
  it("holds at most 50 products, but still merges into a full cart", () => {
    let cart: CartLine[] = [];
    for (let i = 0; i < MAX_LINES; i++) cart = ok(addLine(cart, `p${i}`, 1));
    expect(cart).toHaveLength(50);
    const r = addLine(cart, "one-more", 1);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/at most 50 products/);
    expect(ok(addLine(cart, "p7", 2))[7]).toEqual({ productId: "p7", quantity: 3 });
  });
});

describe("setQuantity", () => {
  it("sets a line's quantity in its place", () => {
    const cart = ok(setQuantity(three, "espresso-cup", 4));
    expect(cart[1]).toEqual({ productId: "espresso-cup", quantity: 4 });
    expect(cart.map((l) => l.quantity)).toEqual([2, 4, 6]);
  });
  it("keeps quantities within 1..1000", () => {
    expect(ok(setQuantity(three, "espresso-cup", 1))[1].quantity).toBe(1);
    expect(ok(setQuantity(three, "espresso-cup", 1000))[1].quantity).toBe(1000);
    for (const q of [0, 1001, 2.5, -3]) expect(setQuantity(three, "espresso-cup", q).ok, String(q)).toBe(false);
  });
  it("refuses a product not in the cart", () => {
    expect(setQuantity(three, "tea", 1).ok).toBe(false);
  });
});

describe("removeLine", () => {
  it("removes the product's line and keeps the others in order", () => {
    expect(removeLine(three, "espresso-cup").map((l) => l.productId)).toEqual(["coffee-beans", "limited-grinder"]);
    expect(removeLine(three, "tea")).toEqual(three);
    expect(removeLine(removeLine(removeLine(three, "coffee-beans"), "espresso-cup"), "limited-grinder")).toEqual([]);
  });
  it("counts the units of all lines", () => {
    expect(totalUnits(three)).toBe(9);
    expect(totalUnits([])).toBe(0);
  });
});

describe("orderBody", () => {
  it("sends a cart as items, in the cart's order", () => {
    expect(orderBody("alice", three)).toEqual({ userId: "alice", items: three });
  });
  it("sends one line in the one-product form every server takes", () => {
    expect(orderBody("alice", [{ productId: "espresso-cup", quantity: 2 }])).toEqual({
      userId: "alice",
      productId: "espresso-cup",
      quantity: 2,
    });
  });
  it("refuses an empty cart", () => {
    expect(() => orderBody("alice", [])).toThrow();
  });
});

describe("problemLines", () => {
  const refusal = (code: string, productIds?: unknown) =>
    new ApiError(code, "refused", 409, productIds === undefined ? undefined : { productIds: productIds as string[] });

  it("marks the lines details.productIds names, with why", () => {
    expect(problemLines(three, refusal("out_of_stock", ["limited-grinder"]))).toEqual({ "limited-grinder": "out_of_stock" });
    expect(problemLines(three, refusal("limit_exceeded", ["coffee-beans", "limited-grinder"]))).toEqual({
      "coffee-beans": "limit_exceeded",
      "limited-grinder": "limit_exceeded",
    });
    expect(problemLines(three, new ApiError("product_not_found", "no such product", 404, { productIds: ["espresso-cup"] }))).toEqual({
      "espresso-cup": "product_not_found",
    });
  });
  it("ignores products not in the cart", () => {
    expect(problemLines(three, refusal("out_of_stock", ["tea", "coffee-beans"]))).toEqual({ "coffee-beans": "out_of_stock" });
  });
  it("marks the only line when the server names none", () => {
    const one = [{ productId: "limited-grinder", quantity: 6 }];
    expect(problemLines(one, refusal("out_of_stock"))).toEqual({ "limited-grinder": "out_of_stock" });
    // With more lines it cannot tell which.
    expect(problemLines(three, refusal("out_of_stock"))).toEqual({});
    expect(problemLines(three, refusal("out_of_stock", "limited-grinder"))).toEqual({});
  });
  it("marks nothing for other errors", () => {
    expect(problemLines(three, refusal("invalid_request", ["coffee-beans"]))).toEqual({});
    expect(problemLines(three, refusal("toString", ["coffee-beans"]))).toEqual({});
    expect(problemLines(three, new Error("boom"))).toEqual({});
    expect(problemLines(three, null)).toEqual({});
  });
});
