import { describe, expect, it } from "vitest";

import { openLive, type LiveMode, type OrderChange } from "./live";

const enc = new TextEncoder();

/** A controllable event-stream response: push text, then end it (or break it). */
function streamResponse() {
  let ctrl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctrl = c) });
  const resp = new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
  return {
    resp,
    push: (text: string) => ctrl.enqueue(enc.encode(text)),
    end: () => ctrl.close(),
    fail: () => ctrl.error(new Error("connection reset")),
  };
}

function order(id: string, status: number) {
  return { orderId: id, orderStatus: status, updatedAt: "2026-11-25T08:00:00.000Z" };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

type Call = { path: string; headers: Record<string, string> };

function setup(answers: Array<() => Response | Promise<Response>>) {
  const calls: Call[] = [];
  const modes: LiveMode[] = [];
  const changes: OrderChange[] = [];
  const fakeFetch = (async (path: string, init: RequestInit) => {
    calls.push({ path, headers: init.headers as Record<string, string> });
    const next = answers.shift();
    if (!next) return new Promise<Response>(() => {}); // never answers
    return next();
  }) as unknown as typeof fetch;
  return { calls, modes, changes, fakeFetch };
}

describe("openLive", () => {
  it("delivers order changes, and resumes after a drop with Last-Event-ID and the token", async () => {
    const first = streamResponse();
    const second = streamResponse();
    const t = setup([() => first.resp, () => second.resp]);
    const close = openLive({
      token: "s3cret",
      fetch: t.fakeFetch,
      onMode: (m) => t.modes.push(m),
      onChange: (c) => t.changes.push(c),
      backoffMs: 1,
    });
    await until(() => t.modes.includes("live"));
    expect(t.calls[0].path).toBe("/events");
    expect(t.calls[0].headers["authorization"]).toBe("Bearer s3cret");
    expect(t.calls[0].headers["last-event-id"]).toBeUndefined();

    first.push(": keep-alive\n\nid: p1\nevent: order\ndata: ");
    first.push(JSON.stringify({ type: "placed", order: order("a", 1) }) + "\n\n");
    first.push("id: p2\nevent: order\ndata: " + JSON.stringify({ type: "paid", order: order("a", 1) }) + "\n\n");
    await until(() => t.changes.length === 2);
    expect(t.changes.map((c) => [c.id, c.type, c.order.orderId])).toEqual([
      ["p1", "placed", "a"],
      ["p2", "paid", "a"],
    ]);

    first.push("id: p3\nevent: order\ndata: {\"half"); // cut mid-message by the drop
    first.fail();
    await until(() => t.calls.length === 2);
    expect(t.modes).toContain("reconnecting");
    expect(t.calls[1].headers["last-event-id"]).toBe("p3");
    second.push("id: p4\nevent: order\ndata: " + JSON.stringify({ type: "processing", order: order("a", 2) }) + "\n\n");
    await until(() => t.changes.length === 3);
    expect(t.changes[2].type).toBe("processing");
    expect(t.modes[t.modes.length - 1]).toBe("live");
    close();
  });

  it("starts from the present when the server no longer knows the position", async () => {
    const first = streamResponse();
    const second = streamResponse();
    const t = setup([
      () => first.resp,
      () => new Response(JSON.stringify({ error: { code: "invalid_request", message: "unknown id" } }), { status: 400 }),
      () => second.resp,
    ]);
    const close = openLive({ token: "", fetch: t.fakeFetch, onMode: (m) => t.modes.push(m), onChange: () => {}, backoffMs: 1 });
    await until(() => t.modes.includes("live"));
    first.push("id: 99\nevent: order\ndata: {}\n\n");
    first.end();
    await until(() => t.calls.length === 3);
    expect(t.calls[1].headers["last-event-id"]).toBe("99");
    expect(t.calls[2].headers["last-event-id"]).toBeUndefined();
    close();
  });

  it("falls back to polling for good on 501 not_supported", async () => {
    const t = setup([
      () =>
        new Response(JSON.stringify({ error: { code: "not_supported", message: "no streaming here" } }), {
          status: 501,
          headers: { "content-type": "application/json" },
        }),
    ]);
    const close = openLive({ token: "", fetch: t.fakeFetch, onMode: (m) => t.modes.push(m), onChange: () => {}, backoffMs: 1 });
    await until(() => t.modes.includes("polling"));
    await new Promise((r) => setTimeout(r, 30));
    expect(t.calls.length).toBe(1);
    expect(t.calls[0].headers["authorization"]).toBeUndefined();
    expect(t.modes).toEqual(["connecting", "polling"]);
    close();
  });

  it("polls when the answer is not an event stream (an older server, a proxy)", async () => {
    const t = setup([() => new Response("<html>", { status: 200, headers: { "content-type": "text/html" } })]);
    const close = openLive({ token: "", fetch: t.fakeFetch, onMode: (m) => t.modes.push(m), onChange: () => {} });
    await until(() => t.modes.includes("polling"));
    close();
  });

  it("keeps retrying with backoff while the server cannot be reached, saying polling after a few failures", async () => {
    const fail = () => Promise.reject(new TypeError("failed to fetch"));
    const ok = streamResponse();
    const t = setup([fail, fail, fail, () => ok.resp]);
    const close = openLive({
      token: "",
      fetch: t.fakeFetch,
      onMode: (m) => t.modes.push(m),
      onChange: () => {},
      backoffMs: 1,
      failuresBeforePolling: 2,
    });
    await until(() => t.modes.includes("live"));
    expect(t.modes).toEqual(["connecting", "reconnecting", "polling", "live"]);
    expect(t.calls.length).toBe(4);
    close();
  });

  it("takes a silent stream as dead and reconnects", async () => {
    const silent = streamResponse();
    const next = streamResponse();
    const t = setup([() => silent.resp, () => next.resp]);
    const close = openLive({ token: "", fetch: t.fakeFetch, onMode: (m) => t.modes.push(m), onChange: () => {}, backoffMs: 1, idleMs: 20 });
    await until(() => t.calls.length === 2);
    close();
  });

  it("stops for good when closed", async () => {
    const s = streamResponse();
    const t = setup([() => s.resp]);
    const close = openLive({ token: "", fetch: t.fakeFetch, onMode: (m) => t.modes.push(m), onChange: () => {}, backoffMs: 1 });
    await until(() => t.modes.includes("live"));
    close();
    await new Promise((r) => setTimeout(r, 30));
    expect(t.calls.length).toBe(1);
    expect(t.modes).toEqual(["connecting", "live"]);
  });
});
