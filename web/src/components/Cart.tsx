import { MAX_QUANTITY, PROBLEM_LABELS, QUANTITY_RULE, type CartLine, type LineProblem } from "../cart";

type Props = {
  cart: CartLine[];
  /** Quantities as typed where they are not a valid quantity yet, by product. */
  drafts: Record<string, string>;
  /** Lines the last refusal named, by product. */
  problems: Record<string, LineProblem>;
  onQuantity: (productId: string, text: string) => void;
  onRemove: (productId: string) => void;
};

/** The cart's lines: each product once, its quantity editable, removable. */
export function Cart({ cart, drafts, problems, onQuantity, onRemove }: Props) {
  if (cart.length === 0) return <p className="muted cart-empty">The cart is empty: add a product above.</p>;
  return (
    <table className="cart" aria-label="Cart">
      <thead>
        <tr>
          <th scope="col">Product</th>
          <th scope="col" className="num">Quantity</th>
          <th scope="col">
            <span className="visually-hidden">Remove</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {cart.map((l) => {
          const problem = problems[l.productId];
          const draft = drafts[l.productId];
          return (
            <tr key={l.productId} data-line={l.productId} data-problem={problem} className={problem ? "problem" : undefined}>
              <td>
                {l.productId}
                {/* In words, not only in colour. */}
                {problem && <span className="problem-note"> {PROBLEM_LABELS[problem]}</span>}
              </td>
              <td className="num">
                <input
                  type="number"
                  min={1}
                  max={MAX_QUANTITY}
                  className="short"
                  value={draft ?? String(l.quantity)}
                  onChange={(e) => onQuantity(l.productId, e.target.value)}
                  aria-label={`Quantity of ${l.productId}`}
                  aria-invalid={draft !== undefined || undefined}
                  title={draft !== undefined ? QUANTITY_RULE : undefined}
                  name={`quantity-${l.productId}`}
                />
              </td>
              <td>
                <button type="button" className="secondary" onClick={() => onRemove(l.productId)} aria-label={`Remove ${l.productId}`}>
                  Remove
                </button>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
