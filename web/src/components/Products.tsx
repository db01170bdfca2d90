import { useState, type FormEvent } from "react";

import { api, type Product } from "../api";
import { ErrorMessage } from "./ErrorMessage";

/** Stock and locked counts, live; a form to set a product's stock. */
export function Products({ products, onChange }: { products: Product[]; onChange: () => void }) {
  const [productId, setProductId] = useState("");
  const [stock, setStock] = useState("10");
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      await api.setStock(productId, Number(stock));
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
          </tr>
        </thead>
        <tbody>
          {products.map((p) => (
            <tr key={p.productId} data-product={p.productId}>
              <td>{p.productId}</td>
              <td className="num stock">{p.stockCount}</td>
              <td className="num locked">{p.lockedCount}</td>
            </tr>
          ))}
          {products.length === 0 && (
            <tr>
              <td colSpan={3} className="muted">No products yet: set some stock below.</td>
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
          <input type="number" min={0} value={stock} onChange={(e) => setStock(e.target.value)} required name="stockCount" />
        </label>
        <button type="submit">Set stock</button>
      </form>
      <ErrorMessage error={error} />
    </section>
  );
}
