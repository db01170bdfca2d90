import { useState, type FormEvent } from "react";

import { api, type Order, type Product } from "../api";
import { ErrorMessage } from "./ErrorMessage";

/** Place an order; the server's refusal (out of stock, invalid input) is shown as it is. */
export function PlaceOrder({ products, onPlaced }: { products: Product[]; onPlaced: (o: Order) => void }) {
  const [userId, setUserId] = useState("alice");
  const [productId, setProductId] = useState("");
  const [quantity, setQuantity] = useState("1");
  const [error, setError] = useState<unknown>(null);
  const [placed, setPlaced] = useState<Order | null>(null);
  const chosen = productId || products[0]?.productId || "";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setPlaced(null);
    try {
      const o = await api.placeOrder(userId, chosen, Number(quantity));
      setPlaced(o);
      onPlaced(o);
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="place-title" className="card">
      <h2 id="place-title">Place an order</h2>
      <form onSubmit={submit} className="row" aria-label="Place an order">
        <label>
          User
          <input value={userId} onChange={(e) => setUserId(e.target.value)} required maxLength={128} name="userId" />
        </label>
        <label>
          Product
          <select value={chosen} onChange={(e) => setProductId(e.target.value)} name="productId" required>
            {products.map((p) => (
              <option key={p.productId} value={p.productId}>
                {p.productId} ({p.stockCount} left)
              </option>
            ))}
          </select>
        </label>
        <label>
          Quantity
          <input type="number" min={1} max={1000} value={quantity} onChange={(e) => setQuantity(e.target.value)} required name="quantity" />
        </label>
        <button type="submit" disabled={!chosen}>
          Place order
        </button>
      </form>
      <ErrorMessage error={error} />
      {placed && (
        <p className="ok" role="status">
          Order <code>{placed.orderId.slice(0, 8)}</code> placed: {placed.quantity} × {placed.productId} locked until payment.
        </p>
      )}
    </section>
  );
}
