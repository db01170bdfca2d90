import { useState, type MouseEvent } from "react";

import type { Order } from "../api";
import { totalUnits } from "../cart";
import { clock, itemsOf, shortId, STATUS_NAMES } from "../logic";
import { Countdown } from "./Countdown";
import { ErrorMessage } from "./ErrorMessage";
import { OrderActions } from "./OrderActions";
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
  /** Seconds for "Pay in N s", as typed. */
  delay: string;
  onDelay: (d: string) => void;
  /** The order whose details are open, if any. */
  selected: string | null;
  onOpen: (orderId: string) => void;
};

/** Orders newest first, live, with the actions that make sense in each state. */
export function Orders(p: Props) {
  const [error, setError] = useState<unknown>(null);
  const delay = p.delay;

  // A click anywhere on a row opens the order, except on its buttons and fields.
  function rowClick(e: MouseEvent, o: Order) {
    if ((e.target as Element).closest("button, a, input, select, textarea")) return;
    p.onOpen(o.orderId);
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
            <input type="number" min={0} max={3600} value={delay} onChange={(e) => p.onDelay(e.target.value)} className="short" name="delay" />
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
            {p.orders.map((o) => {
              const items = itemsOf(o);
              const open = p.selected === o.orderId;
              return (
              <tr
                key={o.orderId}
                data-order={o.orderId}
                data-status={o.orderStatus}
                data-refund={o.refundStatus}
                data-lines={items.length}
                className={open ? "selected" : undefined}
                onClick={(e) => rowClick(e, o)}
              >
                <td data-label="Order">
                  <button
                    type="button"
                    className="order-link"
                    title={`${o.orderId}: details and timeline`}
                    aria-label={`Order ${shortId(o.orderId)}: details and timeline`}
                    aria-expanded={open}
                    aria-controls={open ? "order-detail" : undefined}
                    onClick={() => p.onOpen(o.orderId)}
                  >
                    <code>{shortId(o.orderId)}</code>
                  </button>
                </td>
                <td data-label="User">{o.userId}</td>
                <td data-label="Product">
                  {/* A cart's order (productId null): each line with its quantity; Qty is the total. */}
                  {items.length > 1 ? (
                    <ul className="items" aria-label="Lines">
                      {items.map((i) => (
                        <li key={i.productId} data-line={i.productId}>
                          {i.quantity} × {i.productId}
                        </li>
                      ))}
                    </ul>
                  ) : (
                    items[0]?.productId
                  )}
                </td>
                <td data-label="Qty" className="num" title={items.length > 1 ? `${items.length} products, ${totalUnits(items)} units` : undefined}>
                  {totalUnits(items)}
                </td>
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
                  <OrderActions order={o} delay={delay} onDone={p.onChange} onError={setError} />
                </td>
              </tr>
              );
            })}
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
