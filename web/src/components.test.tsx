import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { ApiError, type Order, type OrderEvent, type Product } from "./api";
import { Cart } from "./components/Cart";
import { Countdown } from "./components/Countdown";
import { ErrorMessage } from "./components/ErrorMessage";
import { LiveIndicator } from "./components/LiveIndicator";
import { Orders } from "./components/Orders";
import { PlaceOrder } from "./components/PlaceOrder";
import { Products } from "./components/Products";
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
  it("names the products an order was refused for", () => {
    const short = renderToStaticMarkup(
      <ErrorMessage error={new ApiError("out_of_stock", "not enough stock", 409, { productIds: ["limited-grinder", "espresso-cup"] })} />,
    );
    expect(short).toContain("Out of stock: not enough units left of limited-grinder, espresso-cup.");
    expect(short).toContain("<code>out_of_stock</code>");
    const limit = renderToStaticMarkup(
      <ErrorMessage error={new ApiError("limit_exceeded", "over maxPerUser", 409, { productIds: ["limited-grinder"] })} />,
    );
    expect(limit).toContain("Over the limit per customer for limited-grinder.");
    expect(limit).toContain("limit_exceeded");
    const missing = renderToStaticMarkup(
      <ErrorMessage error={new ApiError("product_not_found", "no such product", 404, { productIds: ["tea"] })} />,
    );
    expect(missing).toContain("No such product: tea.");
    // Without details: the server's message.
    expect(renderToStaticMarkup(<ErrorMessage error={new ApiError("limit_exceeded", "at most 2 per customer", 409)} />)).toContain(
      "at most 2 per customer",
    );
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

const noop = () => {};

describe("Cart", () => {
  const lines = [
    { productId: "coffee-beans", quantity: 2 },
    { productId: "limited-grinder", quantity: 6 },
  ];

  it("lists each line with its quantity field and a remove button, labelled by product", () => {
    const html = renderToStaticMarkup(<Cart cart={lines} drafts={{}} problems={{}} onQuantity={noop} onRemove={noop} />);
    expect(html).toContain('aria-label="Cart"');
    expect([...html.matchAll(/data-line="([a-z-]+)"/g)].map((m) => m[1])).toEqual(["coffee-beans", "limited-grinder"]);
    expect(html).toMatch(/aria-label="Quantity of coffee-beans"/);
    expect(html).toMatch(/<input[^>]*aria-label="Quantity of limited-grinder"[^>]*value="6"/);
    expect(html).toContain('aria-label="Remove limited-grinder"');
    expect(html).not.toContain("data-problem");
    expect(html).not.toContain("aria-invalid");
  });

  it("marks the lines the server refused, in words", () => {
    const html = renderToStaticMarkup(
      <Cart cart={lines} drafts={{}} problems={{ "limited-grinder": "out_of_stock" }} onQuantity={noop} onRemove={noop} />,
    );
    const rows = html.split("<tr").slice(2);
    expect(rows[0]).not.toContain("data-problem");
    expect(rows[1]).toContain('data-problem="out_of_stock"');
    expect(rows[1]).toContain('class="problem"');
    expect(rows[1]).toContain("not enough stock");
    const limit = renderToStaticMarkup(
      <Cart cart={lines} drafts={{}} problems={{ "coffee-beans": "limit_exceeded" }} onQuantity={noop} onRemove={noop} />,
    );
    expect(limit).toContain("over the limit per customer");
  });

  it("shows a quantity as typed while it is not one, marked invalid", () => {
    const html = renderToStaticMarkup(<Cart cart={lines} drafts={{ "coffee-beans": "" }} problems={{}} onQuantity={noop} onRemove={noop} />);
    expect(html).toMatch(/<input[^>]*aria-label="Quantity of coffee-beans" aria-invalid="true"[^>]*value=""/);
    expect(html.split("<tr").slice(2)[1]).not.toContain("aria-invalid");
  });

  it("says so when empty", () => {
    expect(renderToStaticMarkup(<Cart cart={[]} drafts={{}} problems={{}} onQuantity={noop} onRemove={noop} />)).toContain("The cart is empty");
  });
});

const demo: Product[] = [
  { productId: "coffee-beans", stockCount: 100, lockedCount: 0, maxPerUser: null },
  { productId: "limited-grinder", stockCount: 5, lockedCount: 1, maxPerUser: 2 },
];

describe("PlaceOrder", () => {
  it("starts with an empty cart that cannot be placed", () => {
    const html = renderToStaticMarkup(<PlaceOrder products={demo} onPlaced={noop} />);
    expect(html).toContain('aria-label="Add to cart"');
    expect(html).toContain('aria-label="Place an order"');
    expect(html).toContain("The cart is empty");
    expect(html).toMatch(/<button type="submit" disabled="">Place order<\/button>/);
    // The choice shows what is left and the limit per customer.
    expect(html).toContain("limited-grinder (5 left, 2 per customer)");
    expect(html).toContain("coffee-beans (100 left)<");
  });
});

describe("Products", () => {
  it("shows each product's limit per customer, no limit when null", () => {
    const html = renderToStaticMarkup(<Products products={demo} onChange={noop} />);
    const rows = html.split("<tr").slice(2);
    expect(rows[0]).toContain('data-product="coffee-beans"');
    expect(rows[0]).toMatch(/class="num limit muted">no limit</);
    expect(rows[1]).toMatch(/class="num limit">2</);
    // The stock form keeps the limit unless told otherwise.
    expect(html).toMatch(/<option value="keep" selected="">keep as is<\/option>/);
    expect(html).toContain('<option value="none">no limit</option>');
  });
});

function order(o: Partial<Order>): Order {
  return {
    orderId: "0f8fad5b-d9cb-469f-a165-70867728950e",
    userId: "alice",
    productId: "coffee-beans",
    quantity: 2,
    orderStatus: 1,
    status: "pending",
    paymentStatus: "pending",
    paymentTime: null,
    paymentId: null,
    refundStatus: "none",
    createdAt: "2026-11-25T08:00:00.000Z",
    updatedAt: "2026-11-25T08:00:00.000Z",
    expiresAt: "2026-11-25T08:30:00.000Z",
    ...o,
  };
}

describe("Orders", () => {
  const props = {
    now: Date.parse("2026-11-25T08:00:00.000Z"),
    filters: { userId: "", status: "" },
    onFilters: noop,
    hasOlder: false,
    onOlder: noop,
    onNewest: noop,
    paged: false,
    onChange: noop,
    delay: "5",
    onDelay: noop,
    selected: null,
    onOpen: noop,
  };

  it("shows a one-product order as before", () => {
    const html = renderToStaticMarkup(<Orders {...props} orders={[order({})]} />);
    expect(html).toContain('data-lines="1"');
    expect(html).toContain('<td data-label="Product">coffee-beans</td>');
    expect(html).toMatch(/data-label="Qty" class="num">2</);
  });

  it("lists each line of a cart's order, whose productId is null, and the total", () => {
    const items = [
      { productId: "coffee-beans", quantity: 2 },
      { productId: "espresso-cup", quantity: 3 },
      { productId: "limited-grinder", quantity: 1 },
    ];
    const html = renderToStaticMarkup(<Orders {...props} orders={[order({ items, productId: null, quantity: null })]} />);
    expect(html).toContain('data-lines="3"');
    expect(html).not.toContain("null");
    expect([...html.matchAll(/data-line="([a-z-]+)">(\d+) × ([a-z-]+)</g)].map((m) => [m[1], m[2], m[3]])).toEqual([
      ["coffee-beans", "2", "coffee-beans"],
      ["espresso-cup", "3", "espresso-cup"],
      ["limited-grinder", "1", "limited-grinder"],
    ]);
    expect(html).toMatch(/title="3 products, 6 units">6</);
  });
});
