import { useState, type FormEvent } from "react";

import { api, type Order, type Product } from "../api";
import {
  addLine,
  MAX_QUANTITY,
  orderBody,
  parseQuantity,
  problemLines,
  QUANTITY_RULE,
  removeLine,
  setQuantity,
  totalUnits,
  type CartLine,
  type LineProblem,
} from "../cart";
import { itemsOf, shortId } from "../logic";
import { Cart } from "./Cart";
import { ErrorMessage } from "./ErrorMessage";

function without<T>(r: Record<string, T>, key: string): Record<string, T> {
  if (!(key in r)) return r;
  const { [key]: _, ...rest } = r;
  return rest;
}

/**
 * Build a cart (product and quantity, added line by line) and place it as one order; the
 * server's refusal is shown as it is, and the lines it names are marked.
 */
export function PlaceOrder({ products, onPlaced }: { products: Product[]; onPlaced: (o: Order) => void }) {
  const [userId, setUserId] = useState("alice");
  const [productId, setProductId] = useState("");
  const [quantity, setQuantityText] = useState("1");
  const [cart, setCart] = useState<CartLine[]>([]);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<Record<string, LineProblem>>({});
  const [addError, setAddError] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [placed, setPlaced] = useState<Order | null>(null);
  const [placing, setPlacing] = useState(false);
  const chosen = productId || products[0]?.productId || "";
  const editing = Object.keys(drafts).length > 0;

  function add(e: FormEvent) {
    e.preventDefault();
    const q = parseQuantity(quantity);
    const r = q === null ? { ok: false as const, reason: QUANTITY_RULE } : addLine(cart, chosen, q);
    if (!r.ok) {
      setAddError(r.reason);
      return;
    }
    setAddError(null);
    setPlaced(null);
    setCart(r.cart);
    // The line changed: what the last refusal said of it may no longer hold.
    setProblems(without(problems, chosen));
    setDrafts(without(drafts, chosen));
  }

  // A quantity that is not one yet (say, the field emptied to type another) stays as typed
  // and holds placing back; the line keeps its last valid quantity meanwhile.
  function changeQuantity(id: string, text: string) {
    const q = parseQuantity(text);
    const r = q === null ? null : setQuantity(cart, id, q);
    if (!r || !r.ok) {
      setDrafts({ ...drafts, [id]: text });
      return;
    }
    setCart(r.cart);
    setDrafts(without(drafts, id));
    setProblems(without(problems, id));
  }

  function remove(id: string) {
    setCart(removeLine(cart, id));
    setDrafts(without(drafts, id));
    setProblems(without(problems, id));
  }

  async function place(e: FormEvent) {
    e.preventDefault();
    if (cart.length === 0 || editing || placing) return;
    const sent = cart;
    setError(null);
    setPlaced(null);
    setProblems({});
    setPlacing(true);
    try {
      const o = await api.placeOrder(orderBody(userId, sent));
      setPlaced(o);
      setCart([]);
      setDrafts({});
      onPlaced(o);
    } catch (err) {
      setError(err);
      setProblems(problemLines(sent, err));
    } finally {
      setPlacing(false);
    }
  }

  const lines = cart.length;
  return (
    <section aria-labelledby="place-title" className="card">
      <h2 id="place-title">Place an order</h2>
      <form onSubmit={add} className="row" aria-label="Add to cart">
        <label>
          Product
          <select value={chosen} onChange={(e) => setProductId(e.target.value)} name="productId" required className="product-choice">
            {products.map((p) => (
              <option key={p.productId} value={p.productId}>
                {p.productId} ({p.stockCount} left{p.maxPerUser != null ? `, ${p.maxPerUser} per customer` : ""})
              </option>
            ))}
          </select>
        </label>
        <label>
          Quantity
          <input type="number" min={1} max={MAX_QUANTITY} value={quantity} onChange={(e) => setQuantityText(e.target.value)} required name="quantity" className="short" />
        </label>
        <button type="submit" className="secondary" disabled={!chosen}>
          Add to cart
        </button>
      </form>
      {addError && (
        <p className="error" role="alert">
          {addError}
        </p>
      )}
      <h3 className="cart-title">
        Cart{" "}
        {lines > 0 && (
          <span className="muted">
            ({lines} {lines === 1 ? "product" : "products"}, {totalUnits(cart)} {totalUnits(cart) === 1 ? "unit" : "units"})
          </span>
        )}
      </h3>
      <Cart cart={cart} drafts={drafts} problems={problems} onQuantity={changeQuantity} onRemove={remove} />
      {editing && <p className="muted hint">{QUANTITY_RULE}</p>}
      <form onSubmit={place} className="row" aria-label="Place an order">
        <label>
          User
          <input value={userId} onChange={(e) => setUserId(e.target.value)} required maxLength={128} name="userId" />
        </label>
        <button type="submit" disabled={lines === 0 || editing || placing}>
          Place order
        </button>
      </form>
      <ErrorMessage error={error} />
      {placed && (
        <p className="ok" role="status">
          Order <code>{shortId(placed.orderId)}</code> placed:{" "}
          {itemsOf(placed)
            .map((i) => `${i.quantity} × ${i.productId}`)
            .join(", ")}{" "}
          locked until payment.
        </p>
      )}
    </section>
  );
}
