import { describe, expect, it } from "vitest";

import { readSse, SseParser, type SseMessage } from "./sse";

/** Feed `parts` one after another; all the messages they complete. */
function feedAll(parts: string[], parser = new SseParser()): SseMessage[] {
  return parts.flatMap((p) => parser.feed(p));
}

const STREAM =
  ": keep-alive\n\n" +
  'id: 42\nevent: order\ndata: {"type":"placed","order":{"orderId":"a"}}\n\n' +
  ": keep-alive\n" +
  'id: 43\nevent: order\ndata: {"type":"paid",\ndata: "order":{"orderId":"a"}}\n\n';

describe("SseParser", () => {
  it("parses ids, event types and data, and skips comments", () => {
    const p = new SseParser();
    expect(p.feed(STREAM)).toEqual([
      { id: "42", event: "order", data: '{"type":"placed","order":{"orderId":"a"}}' },
      { id: "43", event: "order", data: '{"type":"paid",\n"order":{"orderId":"a"}}' },
    ]);
    expect(p.lastEventId).toBe("43");
    expect(p.comments).toBe(2);
  });

  it("gives the same messages however the text is cut, even inside a line or a CRLF", () => {
    const whole = feedAll([STREAM]);
    for (let size = 1; size <= 7; size++) {
      const parts: string[] = [];
      for (let i = 0; i < STREAM.length; i += size) parts.push(STREAM.slice(i, i + size));
      expect(feedAll(parts)).toEqual(whole);
    }
    // Every single cut point, with CRLF and CR line ends too.
    for (const text of [STREAM, STREAM.replaceAll("\n", "\r\n"), STREAM.replaceAll("\n", "\r")]) {
      for (let cut = 0; cut <= text.length; cut++) {
        expect(feedAll([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
      }
    }
  });

  it("does not dispatch before the blank line", () => {
    const p = new SseParser();
    expect(p.feed("id: 1\nevent: order\ndata: x\n")).toEqual([]);
    expect(p.feed("\n")).toEqual([{ id: "1", event: "order", data: "x" }]);
  });

  it("joins multi-line data with LF and keeps empty data lines", () => {
    expect(feedAll(["data: one\ndata:\ndata:  two\ndata\n\n"])).toEqual([
      { id: "", event: "message", data: "one\n\n two\n" },
    ]);
  });

  it("drops one space after the colon only, and takes a field without a colon as empty", () => {
    expect(feedAll(["event:order\ndata:a\n\n", "event:  spaced\ndata: b\n\n"])).toEqual([
      { id: "", event: "order", data: "a" },
      { id: "", event: " spaced", data: "b" },
    ]);
  });

  it("keeps the last id across messages, resets the event type, and sends nothing for a data-less message", () => {
    const p = new SseParser();
    expect(p.feed("id: 7\nevent: order\n\n")).toEqual([]);
    expect(p.lastEventId).toBe("7");
    expect(p.feed("data: x\n\n")).toEqual([{ id: "7", event: "message", data: "x" }]);
    // An empty id resets it; one containing NUL is ignored.
    p.feed("id\ndata: y\n\n");
    expect(p.lastEventId).toBe("");
    p.feed("id: 8\n\nid: 9\0\n\n");
    expect(p.lastEventId).toBe("8");
  });

  it("reads retry, ignores unknown fields, strips a leading BOM", () => {
    const p = new SseParser();
    expect(p.feed("\uFEFFretry: 2500\nfoo: bar\nretry: soon\ndata: z\n\n")).toEqual([
      { id: "", event: "message", data: "z" },
    ]);
    expect(p.retry).toBe(2500);
  });

  it("starts from a given id, and forgets an unfinished message on reset", () => {
    const p = new SseParser("41");
    expect(p.feed("data: half")).toEqual([]);
    p.reset();
    expect(p.feed("\n\ndata: whole\n\n")).toEqual([{ id: "41", event: "message", data: "whole" }]);
  });
});

describe("readSse", () => {
  it("decodes UTF-8 split between chunks and reports every chunk", async () => {
    const bytes = new TextEncoder().encode('id: 1\nevent: order\ndata: {"userId":"zoë ☕"}\n\n: keep-alive\n\n');
    const cuts = [3, 30, 31, 34, 35, bytes.length - 4];
    const chunks = cuts.map((c, i) => bytes.slice(i ? cuts[i - 1] : 0, c)).concat([bytes.slice(cuts[cuts.length - 1])]);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        chunks.forEach((ch) => c.enqueue(ch));
        c.close();
      },
    });
    const got: SseMessage[] = [];
    let activity = 0;
    await readSse(body, new SseParser(), (m) => got.push(m), () => activity++);
    expect(got).toEqual([{ id: "1", event: "order", data: '{"userId":"zoë ☕"}' }]);
    expect(activity).toBe(chunks.length);
  });
});
