import { useState } from "react";

import { api, type Order } from "../api";
import { actionsFor, clock, shortId, STATUS_NAMES, type Action } from "../logic";
import { Countdown } from "./Countdown";
import { ErrorMessage } from "./ErrorMessage";
import { StateText, StatusBadge } from "./StatusBadge";

export type Filters = { userId: string; status: string };

type Props = {
  orders: Order[];
  now: number;
  filters: Filters;
  onFilters: (f: Filters) => void;
  hasOlder: boolean;
  onOlder: () => void;
  onNewest: () => void;
  paged: boolean;
  onChange: () => void;
};

const LABELS: Record<Action, string> = {
  pay: "Pay now",
  payLater: "Pay in",
  fail: "Fail payment",
  payLate: "Pay (late)",
  refund: "Refund",
};

/** Orders newest first, live, with the actions that make sense in each state. */
export function Orders(p: Props) {
  const [delay, setDelay] = useState("5");
  const [error, setError] = useState<unknown>(null);

  async function act(o: Order, a: Action) {
    setError(null);
    try {
      if (a === "refund") await api.refund(o.orderId);
      else if (a === "fail") await api.simulatePayment(o.orderId, "failed", 0);
      else if (a === "payLater") await api.simulatePayment(o.orderId, "success", Math.round(Number(delay) * 1000));
      else await api.simulatePayment(o.orderId, "success", 0);
      p.onChange();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="orders-title" className="card wide">
      <div className="orders-head">
        <h2 id="orders-title">Orders</h2>
        <div className="row filters" role="search">
          <label>
            User
            <input value={p.filters.userId} onChange={(e) => p.onFilters({ ...p.filters, userId: e.target.value })} placeholder="all" name="filterUser" />
          </label>
          <label>
            Status
            <select value={p.filters.status} onChange={(e) => p.onFilters({ ...p.filters, status: e.target.value })} name="filterStatus">
              <option value="">all</option>
              {Object.entries(STATUS_NAMES).map(([code, name]) => (
                <option key={code} value={code}>
                  {code} {name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Pay in (s)
            <input type="number" min={0} max={3600} value={delay} onChange={(e) => setDelay(e.target.value)} className="short" name="delay" />
          </label>
        </div>
      </div>
      <ErrorMessage error={error} />
      <div className="scroll">
        <table className="orders">
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">User</th>
              <th scope="col">Product</th>
              <th scope="col" className="num">Qty</th>
              <th scope="col">Status</th>
              <th scope="col">Payment</th>
              <th scope="col">Refund</th>
              <th scope="col">Pay within</th>
              <th scope="col">Created</th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {p.orders.map((o) => (
              <tr key={o.orderId} data-order={o.orderId} data-status={o.orderStatus} data-refund={o.refundStatus}>
                <td data-label="Order">
                  <code title={o.orderId}>{shortId(o.orderId)}</code>
                </td>
                <td data-label="User">{o.userId}</td>
                <td data-label="Product">{o.productId}</td>
                <td data-label="Qty" className="num">{o.quantity}</td>
                <td data-label="Status">
                  <StatusBadge code={o.orderStatus} />
                </td>
                <td data-label="Payment">
                  <StateText value={o.paymentStatus} />
                </td>
                <td data-label="Refund" className="refund">
                  <StateText value={o.refundStatus} />
                </td>
                <td data-label="Pay within">{o.orderStatus === 1 && o.paymentStatus === "pending" ? <Countdown expiresAt={o.expiresAt} now={p.now} /> : <span className="muted">–</span>}</td>
                <td data-label="Created" title={o.createdAt}>{clock(o.createdAt)}</td>
                <td data-label="Updated" title={o.updatedAt}>{clock(o.updatedAt)}</td>
                <td data-label="Actions">
                  <div className="actions">
                  {actionsFor(o).map((a) => (
                    <button key={a} type="button" onClick={() => act(o, a)} className={a === "fail" || a === "refund" ? "secondary" : ""}>
                      {a === "payLater" ? `${LABELS[a]} ${delay || 0}s` : LABELS[a]}
                    </button>
                  ))}
                  </div>
                </td>
              </tr>
            ))}
            {p.orders.length === 0 && (
              <tr>
                <td colSpan={11} className="muted">No orders{p.filters.userId || p.filters.status ? " match these filters" : " yet"}.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <div className="row paging">
        <button type="button" onClick={p.onNewest} disabled={!p.paged} className="secondary">
          ← Newest
        </button>
        <button type="button" onClick={p.onOlder} disabled={!p.hasOlder} className="secondary">
          Older →
        </button>
      </div>
    </section>
  );
}
