import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { ApiError } from "./api";
import { Countdown } from "./components/Countdown";
import { ErrorMessage } from "./components/ErrorMessage";
import { StatusBadge } from "./components/StatusBadge";

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
