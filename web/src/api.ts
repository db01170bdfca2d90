// The orderflow API as the UI uses it: typed shapes and one error type.

export type OrderItem = { productId: string; quantity: number };

export type Order = {
  orderId: string;
  userId: string;
  /** The order's lines; `productId` and `quantity` are the line's when there is one, else null. */
  items?: OrderItem[];
  productId: string | null;
  quantity: number | null;
  orderStatus: 1 | 2 | 3 | 4 | 5;
  status: string;
  paymentStatus: "pending" | "success" | "failed";
  paymentTime: string | null;
  paymentId: string | null;
  refundStatus: "none" | "initiated" | "completed";
  createdAt: string;
  updatedAt: string;
  expiresAt: string;
};

/** A product's stock; `maxPerUser` is the most one customer may order, null when unlimited. */
export type Product = { productId: string; stockCount: number; lockedCount: number; maxPerUser: number | null };

/** What `POST /order` takes: one product (every server version takes it) or a cart. */
export type PlaceOrderBody =
  | { userId: string; productId: string; quantity: number }
  | { userId: string; items: OrderItem[] };

/** One entry of an order's history: what happened, who did it, the state right after. */
export type OrderEvent = {
  seq: number;
  at: string;
  type: string;
  source: string;
  orderStatus: number;
  status: string;
  paymentStatus: string;
  refundStatus: string;
};

export type OrderPage = { orders: Order[]; nextCursor: string | null };

/** `error.details` of an answer: `productIds` names the products an order was refused for. */
export type ErrorDetails = { productIds?: string[]; [key: string]: unknown };

/** An error answer of the API (or a network failure), ready to show. */
export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
    public status: number,
    public details?: ErrorDetails,
  ) {
    super(message);
  }

  /** The products the error names (`details.productIds`), or none. */
  get productIds(): string[] {
    const ids = this.details?.productIds;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  }
}

let adminToken = "";

/** The token sent as `Authorization: Bearer` on admin calls (empty: none). */
export function setAdminToken(token: string) {
  adminToken = token.trim();
}

async function call<T>(method: string, path: string, body?: unknown, admin = false): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (admin && adminToken) headers["authorization"] = `Bearer ${adminToken}`;
  let resp: Response;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("network", "The server cannot be reached.", 0);
  }
  const text = await resp.text();
  const json = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const e = json?.error;
    const details = e?.details && typeof e.details === "object" ? (e.details as ErrorDetails) : undefined;
    throw new ApiError(e?.code ?? "http_" + resp.status, e?.message ?? resp.statusText, resp.status, details);
  }
  return json as T;
}

export const api = {
  products: () => call<{ products: Product[] }>("GET", "/inventory").then((r) => r.products),
  /** `maxPerUser`: a number sets the limit, null removes it, undefined keeps it. */
  setStock: (productId: string, stockCount: number, maxPerUser?: number | null) =>
    call<Product>(
      "PUT",
      `/inventory/${encodeURIComponent(productId)}`,
      maxPerUser === undefined ? { stockCount } : { stockCount, maxPerUser },
      true,
    ),
  placeOrder: (body: PlaceOrderBody) => call<Order>("POST", "/order", body),
  orders: (q: { userId?: string; status?: string; cursor?: string | null; limit?: number }) => {
    const p = new URLSearchParams();
    if (q.userId) p.set("userId", q.userId);
    if (q.status) p.set("status", q.status);
    if (q.cursor) p.set("cursor", q.cursor);
    p.set("limit", String(q.limit ?? 20));
    // Listing every customer's orders is an admin action when the server has a token.
    return call<OrderPage>("GET", `/orders?${p}`, undefined, true);
  },
  order: (orderId: string) => call<Order>("GET", `/order/${encodeURIComponent(orderId)}`),
  // Open: the order's UUID is the customer's handle.
  orderEvents: (orderId: string) =>
    call<{ events: OrderEvent[] }>("GET", `/order/${encodeURIComponent(orderId)}/events`).then((r) => r.events),
  simulatePayment: (orderId: string, outcome: "success" | "failed", delayMs: number) =>
    call<unknown>("POST", `/simulate/payment/${orderId}`, { outcome, delayMs }, true),
  refund: (orderId: string) => call<unknown>("POST", `/refund/${orderId}`, undefined, true),
};
