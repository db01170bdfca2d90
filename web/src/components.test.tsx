import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { ApiError, type OrderEvent } from "./api";
import { Countdown } from "./components/Countdown";
import { ErrorMessage } from "./components/ErrorMessage";
import { LiveIndicator } from "./components/LiveIndicator";
import { StatusBadge } from "./components/StatusBadge";
import { Timeline } from "./components/Timeline";

describe("StatusBadge", () => {
  it("shows the name and the code of each status", () => {
    const names = ["pending", "processing", "completed", "timeout", "failed"];
    names.forEach((name, i) => {
      const html = renderToStaticMarkup(<StatusBadge code={i + 1} />);
      expect(html).toContain(`status-${name}`);
      expect(html).toContain(`>${name} <`);
      expect(html).toContain(`>${i + 1}<`);
    });
  });
});

describe("Countdown", () => {
  it("counts down to expiresAt and marks it late after", () => {
    const expiresAt = "2026-11-25T08:30:00.000Z";
    const t = Date.parse(expiresAt);
    expect(renderToStaticMarkup(<Countdown expiresAt={expiresAt} now={t - 90_000} />)).toContain(">1:30<");
    const late = renderToStaticMarkup(<Countdown expiresAt={expiresAt} now={t + 1} />);
    expect(late).toContain("late");
    expect(late).toContain(">expired<");
  });
});

describe("ErrorMessage", () => {
  it("shows the server's message and code as an alert", () => {
    const html = renderToStaticMarkup(
      <ErrorMessage error={new ApiError("invalid_request", "quantity must be an integer from 1 to 1000", 400)} />,
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain("quantity must be an integer from 1 to 1000");
    expect(html).toContain("invalid_request");
  });
  it("says out of stock plainly", () => {
    const html = renderToStaticMarkup(<ErrorMessage error={new ApiError("out_of_stock", "not enough stock", 409)} />);
    expect(html).toContain("Out of stock");
  });
  it("renders nothing without an error", () => {
    expect(renderToStaticMarkup(<ErrorMessage error={null} />)).toBe("");
  });
});

function ev(seq: number, type: string, source: string, orderStatus: number, paymentStatus = "pending", refundStatus = "none"): OrderEvent {
  const status = ["", "pending", "processing", "completed", "timeout", "failed"][orderStatus];
  return { seq, at: `2026-11-25T08:00:0${seq}.12${seq}Z`, type, source, orderStatus, status, paymentStatus, refundStatus };
}

describe("Timeline", () => {
  const paid = [
    ev(1, "placed", "api", 1),
    ev(2, "paid", "webhook", 1, "success"),
    ev(3, "processing", "consumer", 2, "success"),
    ev(4, "completed", "consumer", 3, "success"),
  ];

  it("lists the events oldest first, each with its label and code", () => {
    const html = renderToStaticMarkup(<Timeline events={paid} />);
    expect([...html.matchAll(/data-type="([a-z_]+)"/g)].map((m) => m[1])).toEqual(["placed", "paid", "processing", "completed"]);
    expect(html).toContain("<strong>Placed</strong> <code>placed</code>");
    expect(html).toContain("<strong>Paid</strong> <code>paid</code>");
    expect(html).toContain("<strong>Completed</strong> <code>completed</code>");
    expect(html).toContain('aria-label="Timeline"');
  });

  it("shows when (with milliseconds), who, and the state after each event", () => {
    const html = renderToStaticMarkup(<Timeline events={paid} />);
    const items = html.split("<li").slice(1);
    expect(items[0]).toContain('dateTime="2026-11-25T08:00:01.121Z"');
    expect(items[0]).toMatch(/>\d\d:\d\d:01\.121</);
    expect(items[0]).toContain("by API <code>api</code>");
    expect(items[1]).toContain("by payment webhook <code>webhook</code>");
    expect(items[2]).toContain("by queue consumer <code>consumer</code>");
    // State after: status name and code, payment, refund.
    expect(items[0]).toMatch(/status-pending.*>pending <.*>1</);
    expect(items[0]).toMatch(/payment <span class="muted">pending<\/span>/);
    expect(items[2]).toMatch(/status-processing.*>processing <.*>2</);
    expect(items[3]).toMatch(/status-completed.*>completed <.*>3</);
    expect(items[3]).toMatch(/payment <span class="state-success">success<\/span>/);
    expect(items[3]).toMatch(/refund <span class="muted">none<\/span>/);
  });

  it("names late payments and refunds, and shows an unknown type as its code", () => {
    const html = renderToStaticMarkup(
      <Timeline
        events={[
          ev(1, "placed", "api", 1),
          ev(2, "timed_out", "sweeper", 4),
          ev(3, "paid_late", "webhook", 4, "success", "initiated"),
          ev(4, "refund_completed", "refund", 4, "success", "completed"),
          ev(5, "something_new", "elsewhere", 4, "success", "completed"),
        ]}
      />,
    );
    expect(html).toContain("<strong>Timed out</strong> <code>timed_out</code>");
    expect(html).toContain("by expiry sweeper <code>sweeper</code>");
    expect(html).toContain("<strong>Paid late, refund initiated</strong>");
    expect(html).toContain('refund <span class="state-initiated">initiated</span>');
    expect(html).toContain("<strong>Refund completed</strong> <code>refund_completed</code>");
    expect(html).toContain("<strong>something_new</strong> <code>something_new</code>");
    expect(html).toContain("by elsewhere <code>elsewhere</code>");
  });

  it("says so when there is nothing yet", () => {
    expect(renderToStaticMarkup(<Timeline events={[]} />)).toContain("No events yet");
  });
});

describe("LiveIndicator", () => {
  it("names how the page stays current", () => {
    expect(renderToStaticMarkup(<LiveIndicator mode="live" />)).toContain('aria-label="Updates: Live"');
    expect(renderToStaticMarkup(<LiveIndicator mode="polling" />)).toContain(">Polling<");
    const r = renderToStaticMarkup(<LiveIndicator mode="reconnecting" />);
    expect(r).toContain('role="status"');
    expect(r).toContain("Reconnecting…");
  });
});
