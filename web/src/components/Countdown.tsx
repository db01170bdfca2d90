import { formatRemaining } from "../logic";

/** Time left to pay, from `expiresAt` and the page's ticking clock. */
export function Countdown({ expiresAt, now }: { expiresAt: string; now: number }) {
  const left = Date.parse(expiresAt) - now;
  return (
    <span className={left <= 0 ? "countdown late" : "countdown"} title={`expires ${expiresAt}`}>
      {formatRemaining(left)}
    </span>
  );
}
