import { api, type Order } from "../api";
import { actionsFor, type Action } from "../logic";

const LABELS: Record<Action, string> = {
  pay: "Pay now",
  payLater: "Pay in",
  fail: "Fail payment",
  payLate: "Pay (late)",
  refund: "Refund",
};

type Props = {
  order: Order;
  /** Seconds for "Pay in N s", as typed. */
  delay: string;
  onDone: () => void;
  onError: (e: unknown) => void;
};

/** The actions that make sense for an order now, through the simulated gateway or the API. */
export function OrderActions({ order: o, delay, onDone, onError }: Props) {
  async function act(a: Action) {
    onError(null);
    try {
      if (a === "refund") await api.refund(o.orderId);
      else if (a === "fail") await api.simulatePayment(o.orderId, "failed", 0);
      else if (a === "payLater") await api.simulatePayment(o.orderId, "success", Math.round(Number(delay) * 1000));
      else await api.simulatePayment(o.orderId, "success", 0);
      onDone();
    } catch (err) {
      onError(err);
    }
  }
  return (
    <div className="actions">
      {actionsFor(o).map((a) => (
        <button key={a} type="button" onClick={() => act(a)} className={a === "fail" || a === "refund" ? "secondary" : ""}>
          {a === "payLater" ? `${LABELS[a]} ${delay || 0}s` : LABELS[a]}
        </button>
      ))}
    </div>
  );
}
