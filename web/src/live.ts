// Live changes: `GET /events` (Server-Sent Events) read with fetch(), so that the admin
// token can go in the Authorization header, with reconnection (Last-Event-ID, backoff) and a
// fallback to polling where the server cannot stream.

import type { Order } from "./api";
import { readSse, SseParser } from "./sse";

/**
 * What the page does to stay current:
 * - `connecting`: opening the stream (the page polls meanwhile);
 * - `live`: the stream is open; no polling;
 * - `reconnecting`: the stream dropped; trying again with backoff (polling meanwhile);
 * - `polling`: the server does not stream (501, 404, 401, not an event stream) or the stream
 *   keeps failing: the page polls (the stream is still retried, slowly, unless refused).
 */
export type LiveMode = "connecting" | "live" | "reconnecting" | "polling";

/** One `event: order` message: the event's type and the order right after it. */
export type OrderChange = { id: string; type: string; order: Order };

export type LiveOptions = {
  token: string;
  onChange: (c: OrderChange) => void;
  onMode: (m: LiveMode) => void;
  /** Path of the stream; `/events` by default. */
  path?: string;
  fetch?: typeof fetch;
  /** First reconnection delay; doubles on each failure up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A stream silent for longer than this (no data, no keep-alive) is taken as dead. */
  idleMs?: number;
  /** Failed attempts in a row after which the page says `polling` rather than `reconnecting`. */
  failuresBeforePolling?: number;
};

/** Statuses that say "this server will not stream to you": poll, and do not retry. */
const REFUSED = new Set([400, 401, 403, 404, 405, 501]);

/** Open the stream; returns a function that closes it for good. */
export function openLive(opts: LiveOptions): () => void {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const path = opts.path ?? "/events";
  const backoffMs = opts.backoffMs ?? 1000;
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  const idleMs = opts.idleMs ?? 45_000; // three keep-alive periods
  const failuresBeforePolling = opts.failuresBeforePolling ?? 3;

  let closed = false;
  let ctrl: AbortController | null = null;
  let wake: (() => void) | null = null;
  let mode: LiveMode | null = null;
  // Kept across connections: where to resume after a drop.
  const parser = new SseParser();

  const setMode = (m: LiveMode) => {
    if (m !== mode && !closed) {
      mode = m;
      opts.onMode(m);
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = null;
        resolve();
      }
      wake = done;
    });

  /** One connection: "refused" (stop), or "dropped" after it opened, or "failed" before. */
  async function connectOnce(): Promise<"refused" | "dropped" | "failed"> {
    ctrl = new AbortController();
    parser.reset();
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (opts.token) headers["authorization"] = `Bearer ${opts.token}`;
    if (parser.lastEventId) headers["last-event-id"] = parser.lastEventId;
    let resp: Response;
    try {
      resp = await doFetch(path, { headers, cache: "no-store", signal: ctrl.signal });
    } catch {
      return "failed";
    }
    if (resp.status === 400 && parser.lastEventId) {
      // A position this server does not know (its data was replaced): start from the present;
      // the page refreshes when the stream opens, so nothing is missed on screen.
      resp.body?.cancel().catch(() => {});
      parser.lastEventId = "";
      return "failed";
    }
    const type = resp.headers.get("content-type") ?? "";
    if (REFUSED.has(resp.status) || (resp.ok && !type.startsWith("text/event-stream"))) {
      resp.body?.cancel().catch(() => {});
      return "refused";
    }
    if (!resp.ok || !resp.body) {
      resp.body?.cancel().catch(() => {});
      return "failed";
    }
    setMode("live");
    const opened = Date.now();
    let received = 0;
    // A connection that goes silent (no keep-alive) is dead even if TCP has not noticed.
    const signal = ctrl.signal;
    let idle = setTimeout(() => ctrl?.abort(), idleMs);
    try {
      await readSse(
        resp.body,
        parser,
        (m) => {
          received++;
          if (m.event !== "order") return;
          let change: OrderChange;
          try {
            const d = JSON.parse(m.data);
            change = { id: m.id, type: String(d.type), order: d.order as Order };
          } catch {
            return; // not ours to interpret
          }
          if (change.order && typeof change.order.orderId === "string") opts.onChange(change);
        },
        () => {
          clearTimeout(idle);
          idle = setTimeout(() => ctrl?.abort(), idleMs);
        },
        signal,
      );
    } catch {
      // Aborted (closed, or idle) or the connection broke: reconnect below.
    } finally {
      clearTimeout(idle);
    }
    // A stream that ends at once with nothing in it is no better than one that never opened.
    return received === 0 && Date.now() - opened < 5000 ? "failed" : "dropped";
  }

  (async () => {
    setMode("connecting");
    let failures = 0;
    while (!closed) {
      const r = await connectOnce();
      if (closed) return;
      if (r === "refused") {
        setMode("polling");
        return;
      }
      failures = r === "dropped" ? 1 : failures + 1;
      setMode(failures >= failuresBeforePolling ? "polling" : "reconnecting");
      const delay = Math.min(maxBackoffMs, (parser.retry ?? backoffMs) * 2 ** (failures - 1));
      // Jitter, so that many pages dropped together do not come back together.
      await sleep(delay * (0.75 + Math.random() * 0.5));
    }
  })();

  return () => {
    closed = true;
    ctrl?.abort();
    wake?.();
  };
}
