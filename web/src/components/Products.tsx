import { useState, type FormEvent } from "react";

import { api, type Product } from "../api";
import { limitText, maxPerUserOf, MAX_LIMIT, type LimitChoice } from "../logic";
import { ErrorMessage } from "./ErrorMessage";

/** Stock, locked counts and limits per customer, live; a form to set a product's stock and limit. */
export function Products({ products, onChange }: { products: Product[]; onChange: () => void }) {
  const [productId, setProductId] = useState("");
  const [stock, setStock] = useState("10");
  // "keep" by default: setting the stock leaves the limit as it is (the field is left out).
  const [limitChoice, setLimitChoice] = useState<LimitChoice>("keep");
  const [limit, setLimit] = useState("1");
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const m = maxPerUserOf(limitChoice, limit);
    if (!m.ok) {
      setError(new Error(m.reason));
      return;
    }
    try {
      await api.setStock(productId, Number(stock), m.maxPerUser);
      onChange();
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section aria-labelledby="products-title" className="card">
      <h2 id="products-title">Products</h2>
      <table className="products">
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col" className="num">Available</th>
            <th scope="col" className="num">Locked</th>
            <th scope="col" className="num">Per customer</th>
          </tr>
        </thead>
        <tbody>
          {products.map((p) => (
            <tr key={p.productId} data-product={p.productId}>
              <td>{p.productId}</td>
              <td className="num stock">{p.stockCount}</td>
              <td className="num locked">{p.lockedCount}</td>
              <td className={p.maxPerUser == null ? "num limit muted" : "num limit"}>{limitText(p.maxPerUser)}</td>
            </tr>
          ))}
          {products.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">No products yet: set some stock below.</td>
            </tr>
          )}
        </tbody>
      </table>
      <form onSubmit={submit} className="row" aria-label="Set stock">
        <label>
          Product
          <input value={productId} onChange={(e) => setProductId(e.target.value)} required maxLength={128} name="stockProduct" />
        </label>
        <label>
          Stock
          <input type="number" min={0} value={stock} onChange={(e) => setStock(e.target.value)} required name="stockCount" className="short" />
        </label>
        <label>
          Limit per customer
          <select value={limitChoice} onChange={(e) => setLimitChoice(e.target.value as LimitChoice)} name="limitChoice">
            <option value="keep">keep as is</option>
            <option value="none">no limit</option>
            <option value="set">at most…</option>
          </select>
        </label>
        {limitChoice === "set" && (
          <label>
            Most per customer
            <input type="number" min={1} max={MAX_LIMIT} value={limit} onChange={(e) => setLimit(e.target.value)} required name="maxPerUser" className="short" />
          </label>
        )}
        <button type="submit">Set stock</button>
      </form>
      <ErrorMessage error={error} />
    </section>
  );
}
