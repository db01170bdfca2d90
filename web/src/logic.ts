// The UI's logic, kept out of the components so it can be tested on its own.

import type { Order, OrderItem } from "./api";

export const STATUS_NAMES: Record<number, string> = {
  1: "pending",
  2: "processing",
  3: "completed",
  4: "timeout",
  5: "failed",
};

/** "12:05" for 12 min 5 s left, "0:09", "1:02:03" past an hour; "expired" at or past 0. */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return "expired";
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** What a person can do with an order in its current state. */
export type Action = "pay" | "payLater" | "fail" | "payLate" | "refund";

export function actionsFor(o: Order): Action[] {
  const actions: Action[] = [];
  if (o.orderStatus === 1 && o.paymentStatus === "pending") actions.push("pay", "payLater", "fail");
  // Money for an order that can no longer be fulfilled: the gateway pays, orderflow refunds.
  if ((o.orderStatus === 4 || o.orderStatus === 5) && o.paymentStatus !== "success") {
    actions.push("payLate");
  }
  if (o.paymentStatus === "success" && o.refundStatus === "none") actions.push("refund");
  return actions;
}

/** A short, readable form of a UUID for tables. */
export function shortId(id: string): string {
  // The last characters: order ids are UUIDv7, whose first ones are the creation time and
  // shared by every order of the same minute; the last are random.
  return id.slice(-8);
}

/** "08:01:02" local time of an RFC 3339 timestamp (full timestamp in the title). */
export function clock(ts: string | null): string {
  if (!ts) return "–";
  const d = new Date(ts);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/** "08:01:02.345" local time with milliseconds: events of one order often share a second. */
export function clockMs(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${clock(ts)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** What each history event means, in words (the code is shown beside it). */
export const EVENT_LABELS: Record<string, string> = {
  placed: "Placed",
  paid: "Paid",
  paid_late: "Paid late, refund initiated",
  payment_failed: "Payment failed",
  processing: "Processing",
  completed: "Completed",
  timed_out: "Timed out",
  refund_requested: "Refund requested",
  refund_completed: "Refund completed",
};

/** Who made the change an event records. */
export const SOURCE_LABELS: Record<string, string> = {
  api: "API",
  webhook: "payment webhook",
  consumer: "queue consumer",
  sweeper: "expiry sweeper",
  refund: "refund gateway",
};

export function eventLabel(type: string): string {
  return EVENT_LABELS[type] ?? type;
}

export function sourceLabel(source: string): string {
  return SOURCE_LABELS[source] ?? source;
}

/** An order's lines, whether the server sent `items` or only the one line's fields. */
export function itemsOf(o: Order): OrderItem[] {
  if (o.items && o.items.length > 0) return o.items;
  return o.productId ? [{ productId: o.productId, quantity: o.quantity ?? 1 }] : [];
}

/**
 * Calls `fn` at once on the first call, then at most once per `ms`: calls within that time
 * are folded into one more call at its end. A burst of changes thus shows its first at once
 * and its last within `ms`, whatever its length. `cancel` drops a pending call.
 */
export function throttle(fn: () => void, ms: number): { (): void; cancel: () => void } {
  let t: ReturnType<typeof setTimeout> | undefined;
  let pending = false;
  const window = () => {
    t = setTimeout(() => {
      t = undefined;
      if (pending) {
        pending = false;
        fn();
        window();
      }
    }, ms);
  };
  const th = () => {
    if (t !== undefined) {
      pending = true;
      return;
    }
    fn();
    window();
  };
  th.cancel = () => {
    clearTimeout(t);
    t = undefined;
    pending = false;
  };
  return th;
}

/** A product's limit per customer in words: the number, or "no limit" (null or not sent). */
export function limitText(maxPerUser: number | null | undefined): string {
  return maxPerUser == null ? "no limit" : String(maxPerUser);
}

/** What the stock form does to a product's limit per customer. */
export type LimitChoice = "keep" | "none" | "set";

/** The largest limit per customer the API takes. */
export const MAX_LIMIT = 1_000_000;

/**
 * `maxPerUser` for `PUT /inventory/{productId}`: undefined keeps the current limit (the field
 * is left out), null removes it, a number from 1 to 10^6 sets it; or why the typed limit is
 * not one.
 */
export function maxPerUserOf(
  choice: LimitChoice,
  text: string,
): { ok: true; maxPerUser: number | null | undefined } | { ok: false; reason: string } {
  if (choice === "keep") return { ok: true, maxPerUser: undefined };
  if (choice === "none") return { ok: true, maxPerUser: null };
  const t = text.trim();
  const n = /^\d{1,7}$/.test(t) ? Number(t) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) {
    return { ok: false, reason: `A limit per customer is a whole number from 1 to ${MAX_LIMIT.toLocaleString("en")}.` };
  }
  return { ok: true, maxPerUser: n };
}
