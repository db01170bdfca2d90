import { STATUS_NAMES } from "../logic";

/** The order status as a coloured badge: its name and its code. */
export function StatusBadge({ code }: { code: number }) {
  const name = STATUS_NAMES[code] ?? "unknown";
  return (
    <span className={`badge status-${name}`} data-status={code}>
      {name} <span className="code">{code}</span>
    </span>
  );
}

/** Payment or refund state in words, muted when nothing happened yet. */
export function StateText({ value }: { value: string }) {
  const quiet = value === "pending" || value === "none";
  return <span className={quiet ? "muted" : `state-${value}`}>{value}</span>;
}
