import { useCallback, useEffect, useRef, useState } from "react";

import { api, type Order, type OrderEvent } from "../api";
import type { LiveMode, OrderChange } from "../live";
import { clock, itemsOf, shortId, throttle } from "../logic";
import { Countdown } from "./Countdown";
import { ErrorMessage } from "./ErrorMessage";
import { OrderActions } from "./OrderActions";
import { StateText, StatusBadge } from "./StatusBadge";
import { Timeline } from "./Timeline";

type Props = {
  orderId: string;
  mode: LiveMode;
  /** Subscribe to the page's live changes; returns the unsubscribe. */
  subscribe: (fn: (c: OrderChange) => void) => () => void;
  pollMs: number;
  now: number;
  delay: string;
  onClose: () => void;
  onChange: () => void;
};

/**
 * One order in full and its history (`GET /order/{id}/events`, open). Live: each change of
 * this order on the page's stream fetches both again; without a stream it polls.
 */
export function OrderDetail(p: Props) {
  const { orderId, mode, subscribe, pollMs } = p;
  const [order, setOrder] = useState<Order | null>(null);
  const [events, setEvents] = useState<OrderEvent[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // Only the answer to the latest request counts: answers can overtake each other.
  const generation = useRef(0);

  const load = useCallback(async () => {
    const gen = ++generation.current;
    const [o, ev] = await Promise.allSettled([api.order(orderId), api.orderEvents(orderId)]);
    if (gen !== generation.current) return;
    if (o.status === "fulfilled") setOrder(o.value);
    if (ev.status === "fulfilled") setEvents(ev.value);
    const failed = [o, ev].find((r) => r.status === "rejected");
    setError(failed ? failed.reason : null);
  }, [orderId]);

  // A new order: start empty and take the focus, so that keyboard users land on it.
  useEffect(() => {
    setOrder(null);
    setEvents([]);
    setError(null);
    setActionError(null);
    heading.current?.focus();
    heading.current?.scrollIntoView?.({ block: "nearest" });
  }, [orderId]);

  useEffect(() => {
    load();
    if (mode === "live") return;
    const poll = setInterval(load, pollMs);
    return () => clearInterval(poll);
  }, [load, mode, pollMs]);

  // Each change of this order fetches the order and its history again, together, so that
  // the facts and the timeline never disagree.
  useEffect(() => {
    const reload = throttle(load, 150);
    const off = subscribe((c) => {
      if (c.order.orderId === orderId) reload();
    });
    return () => {
      off();
      reload.cancel();
    };
  }, [subscribe, load, orderId]);

  const o = order;
  return (
    <section
      id="order-detail"
      aria-labelledby="detail-title"
      className="card wide detail"
      data-detail={orderId}
      onKeyDown={(e) => {
        if (e.key === "Escape") p.onClose();
      }}
    >
      <div className="detail-head">
        <h2 id="detail-title" tabIndex={-1} ref={heading}>
          Order <code title={orderId}>{shortId(orderId)}</code>
        </h2>
        <button type="button" className="secondary" onClick={p.onClose} aria-label="Close the order's details">
          Close
        </button>
      </div>
      <ErrorMessage error={error} />
      {o && (
        <>
          <dl className="facts">
            <div>
              <dt>Order id</dt>
              <dd>
                <code>{o.orderId}</code>
              </dd>
            </div>
            <div>
              <dt>User</dt>
              <dd>{o.userId}</dd>
            </div>
            <div>
              <dt>Items</dt>
              <dd>
                <ul className="items" aria-label="Lines">
                  {itemsOf(o).map((i) => (
                    <li key={i.productId} data-line={i.productId}>
                      {i.quantity} × {i.productId}
                    </li>
                  ))}
                </ul>
              </dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd className="status">
                <StatusBadge code={o.orderStatus} />
              </dd>
            </div>
            <div>
              <dt>Payment</dt>
              <dd>
                <StateText value={o.paymentStatus} />
                {o.paymentTime && <span title={o.paymentTime}> at {clock(o.paymentTime)}</span>}
                {o.paymentId && (
                  <>
                    {" "}
                    <code>{o.paymentId}</code>
                  </>
                )}
              </dd>
            </div>
            <div>
              <dt>Refund</dt>
              <dd className="refund">
                <StateText value={o.refundStatus} />
              </dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd title={o.createdAt}>{clock(o.createdAt)}</dd>
            </div>
            <div>
              <dt>Updated</dt>
              <dd title={o.updatedAt}>{clock(o.updatedAt)}</dd>
            </div>
            <div>
              <dt>Pay by</dt>
              <dd title={o.expiresAt}>
                {clock(o.expiresAt)}
                {o.orderStatus === 1 && o.paymentStatus === "pending" && (
                  <>
                    {" "}
                    (<Countdown expiresAt={o.expiresAt} now={p.now} /> left)
                  </>
                )}
              </dd>
            </div>
          </dl>
          <OrderActions
            order={o}
            delay={p.delay}
            onDone={() => {
              load();
              p.onChange();
            }}
            onError={setActionError}
          />
          <ErrorMessage error={actionError} />
        </>
      )}
      <h3>Timeline</h3>
      <Timeline events={events} />
    </section>
  );
}
