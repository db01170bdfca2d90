// A Server-Sent Events parser, as the HTML standard describes the event-stream format, for
// a stream read with fetch(): EventSource cannot send an Authorization header, and
// `GET /events` needs one when the server has an admin token.

/** One dispatched message: the last event id seen so far, its type, its data lines joined. */
export type SseMessage = { id: string; event: string; data: string };

/**
 * Feed it text as it arrives, cut anywhere (even between the CR and LF of a line end); it
 * returns the messages completed by that text. Lines end with LF, CR or CRLF; `:` starts a
 * comment; a field without a colon has an empty value; one space after the colon is dropped;
 * `data` lines accumulate (joined with LF) until a blank line dispatches them; a message
 * without data is not dispatched (its `id` still counts); an unfinished message at the end
 * of the stream is dropped (the caller simply stops feeding).
 */
export class SseParser {
  /** The last event id buffer: set by `id:`, kept across messages, sent back on reconnect. */
  lastEventId = "";
  /** The reconnection time the server asked for with `retry:`, in ms (null: none). */
  retry: number | null = null;
  /** Comment lines seen (keep-alives). */
  comments = 0;

  private line = "";
  private afterCR = false;
  private started = false;
  private data: string[] = [];
  private event = "";

  constructor(lastEventId = "") {
    this.lastEventId = lastEventId;
  }

  /** A new connection: forget its unfinished line and message, keep the id and retry. */
  reset() {
    this.line = "";
    this.afterCR = false;
    this.started = false;
    this.data = [];
    this.event = "";
  }

  feed(text: string): SseMessage[] {
    const out: SseMessage[] = [];
    let i = 0;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) i = 1; // a byte order mark, once, at the start
    }
    let start = i;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 && this.afterCR) {
        // The LF of a CRLF whose CR ended the previous line (maybe in the previous chunk).
        this.afterCR = false;
        start = i + 1;
        continue;
      }
      this.afterCR = false;
      if (c === 10 || c === 13) {
        this.line += text.slice(start, i);
        start = i + 1;
        this.afterCR = c === 13;
        this.endLine(out);
      }
    }
    this.line += text.slice(start);
    return out;
  }

  private endLine(out: SseMessage[]) {
    const line = this.line;
    this.line = "";
    if (line === "") {
      if (this.data.length > 0) {
        out.push({ id: this.lastEventId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.data = [];
      this.event = "";
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
      // Unknown fields are ignored.
    }
  }
}

/**
 * Read an event stream's body to its end: decodes UTF-8 across chunk boundaries, parses, and
 * calls `onMessage` for each message and `onActivity` for every chunk (keep-alives included).
 * Aborting `signal` cancels the body, whatever fetch does with its own signal.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  parser: SseParser,
  onMessage: (m: SseMessage) => void,
  onActivity: () => void = () => {},
  signal?: AbortSignal,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => {});
  if (signal?.aborted) cancel();
  signal?.addEventListener("abort", cancel);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onActivity();
      for (const m of parser.feed(decoder.decode(value, { stream: true }))) onMessage(m);
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}
