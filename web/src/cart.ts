// The cart: pure functions over its lines, kept out of the components so they can be tested.
// Each function returns a new cart; the bounds are the API's, so that what the cart holds
// is an order the server can take.

import { ApiError, type OrderItem, type PlaceOrderBody } from "./api";

/** The most lines (distinct products) one order may have. */
export const MAX_LINES = 50;
/** A line's quantity is a whole number from 1 to this. */
export const MAX_QUANTITY = 1000;

export type CartLine = OrderItem;

/** A change to the cart: the new cart, or why it was not made (the cart is unchanged). */
export type CartChange = { ok: true; cart: CartLine[] } | { ok: false; reason: string };

export const QUANTITY_RULE = `A quantity is a whole number from 1 to ${MAX_QUANTITY}.`;

function validQuantity(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_QUANTITY;
}

/** The quantity typed in a field, or null when it is not a whole number from 1 to 1000. */
export function parseQuantity(text: string): number | null {
  const t = text.trim();
  // Digits only: Number() would also take "1e2", "0x10" and "".
  if (!/^\d{1,7}$/.test(t)) return null;
  const n = Number(t);
  return validQuantity(n) ? n : null;
}

/**
 * Adds `quantity` of a product: to its line when the cart has one (the API takes each
 * product once per order), else as a new last line.
 */
export function addLine(cart: CartLine[], productId: string, quantity: number): CartChange {
  if (!productId) return { ok: false, reason: "Choose a product." };
  if (!validQuantity(quantity)) return { ok: false, reason: QUANTITY_RULE };
  const i = cart.findIndex((l) => l.productId === productId);
  if (i >= 0) {
    const sum = cart[i].quantity + quantity;
    if (sum > MAX_QUANTITY) {
      return {
        ok: false,
        reason: `At most ${MAX_QUANTITY} of one product: the cart has ${cart[i].quantity} × ${productId} already.`,
      };
    }
    return { ok: true, cart: cart.map((l, j) => (j === i ? { ...l, quantity: sum } : l)) };
  }
  if (cart.length >= MAX_LINES) return { ok: false, reason: `An order has at most ${MAX_LINES} products.` };
  return { ok: true, cart: [...cart, { productId, quantity }] };
}

/** Sets a line's quantity (1 to 1000), keeping its place in the cart. */
export function setQuantity(cart: CartLine[], productId: string, quantity: number): CartChange {
  if (!validQuantity(quantity)) return { ok: false, reason: QUANTITY_RULE };
  if (!cart.some((l) => l.productId === productId)) return { ok: false, reason: `${productId} is not in the cart.` };
  return { ok: true, cart: cart.map((l) => (l.productId === productId ? { ...l, quantity } : l)) };
}

export function removeLine(cart: CartLine[], productId: string): CartLine[] {
  return cart.filter((l) => l.productId !== productId);
}

/** Units in the cart, all lines together. */
export function totalUnits(cart: CartLine[]): number {
  return cart.reduce((n, l) => n + l.quantity, 0);
}

/**
 * The body of `POST /order` for a cart. One line goes in the one-product form, which every
 * server version takes (a server from before carts still takes single orders from this
 * UI); more go as `items`, in the cart's order.
 */
export function orderBody(userId: string, cart: CartLine[]): PlaceOrderBody {
  if (cart.length === 0) throw new Error("an empty cart is not an order");
  if (cart.length === 1) return { userId, productId: cart[0].productId, quantity: cart[0].quantity };
  return { userId, items: cart.map(({ productId, quantity }) => ({ productId, quantity })) };
}

/** Why the server refused an order because of some of its products. */
export type LineProblem = "out_of_stock" | "limit_exceeded" | "product_not_found";

/** Shown on each line the refusal names. */
export const PROBLEM_LABELS: Record<LineProblem, string> = {
  out_of_stock: "not enough stock",
  limit_exceeded: "over the limit per customer",
  product_not_found: "no such product",
};

/**
 * The cart's lines a refused order names (`error.details.productIds`), each with why. An
 * answer without the details (a server from before carts) names no product: with one line,
 * that line is the one; with more, none is marked (the message still says what went wrong).
 */
export function problemLines(cart: CartLine[], error: unknown): Record<string, LineProblem> {
  if (!(error instanceof ApiError) || !Object.hasOwn(PROBLEM_LABELS, error.code)) return {};
  const code = error.code as LineProblem;
  let ids = error.productIds;
  if (ids.length === 0 && cart.length === 1) ids = [cart[0].productId];
  const marked: Record<string, LineProblem> = {};
  for (const l of cart) if (ids.includes(l.productId)) marked[l.productId] = code;
  return marked;
}
