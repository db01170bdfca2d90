import type { OrderEvent } from "../api";
import { clockMs, eventLabel, sourceLabel } from "../logic";
import { StateText, StatusBadge } from "./StatusBadge";

/** An order's history, oldest first: when, what (label and code), by whom, and the state after. */
export function Timeline({ events }: { events: OrderEvent[] }) {
  if (events.length === 0) return <p className="muted">No events yet.</p>;
  return (
    <ol className="timeline" aria-label="Timeline">
      {events.map((e) => (
        <li key={e.seq} data-seq={e.seq} data-type={e.type} data-status={e.orderStatus}>
          <time dateTime={e.at} title={e.at}>
            {clockMs(e.at)}
          </time>
          <span className="what">
            <strong>{eventLabel(e.type)}</strong> <code>{e.type}</code>
          </span>
          <span className="source">
            by {sourceLabel(e.source)} <code>{e.source}</code>
          </span>
          <span className="after">
            <span className="visually-hidden">State after: </span>
            <StatusBadge code={e.orderStatus} />
            <span>
              payment <StateText value={e.paymentStatus} />
            </span>
            <span>
              refund <StateText value={e.refundStatus} />
            </span>
          </span>
        </li>
      ))}
    </ol>
  );
}
