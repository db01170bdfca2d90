import { useCallback, useEffect, useState } from "react";

import { api, setAdminToken, type Order, type Product } from "./api";
import { ErrorMessage } from "./components/ErrorMessage";
import { Orders, type Filters } from "./components/Orders";
import { PlaceOrder } from "./components/PlaceOrder";
import { Products } from "./components/Products";

/** How often the page asks the server what changed. */
const POLL_MS = 1000;
const TOKEN_KEY = "orderflow.adminToken";

export function App() {
  const [products, setProducts] = useState<Product[]>([]);
  const [orders, setOrders] = useState<Order[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  // The cursors of the pages walked so far; the last one is the page shown.
  const [cursors, setCursors] = useState<string[]>([]);
  const [filters, setFilters] = useState<Filters>({ userId: "", status: "" });
  const [error, setError] = useState<unknown>(null);
  const [now, setNow] = useState(Date.now());
  const [token, setToken] = useState(() => localStorage.getItem(TOKEN_KEY) ?? "");

  useEffect(() => {
    setAdminToken(token);
    localStorage.setItem(TOKEN_KEY, token);
  }, [token]);

  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const refresh = useCallback(async () => {
    // Each on its own: products are public, while the listing of every customer's orders
    // needs the admin token when the server has one.
    const [ps, page] = await Promise.allSettled([
      api.products(),
      api.orders({ userId: filters.userId.trim(), status: filters.status, cursor }),
    ]);
    if (ps.status === "fulfilled") setProducts(ps.value);
    if (page.status === "fulfilled") {
      setOrders(page.value.orders);
      setNextCursor(page.value.nextCursor);
    }
    const failed = [ps, page].find((r) => r.status === "rejected");
    setError(failed ? failed.reason : null);
  }, [filters, cursor]);

  useEffect(() => {
    refresh();
    const poll = setInterval(refresh, POLL_MS);
    return () => clearInterval(poll);
  }, [refresh]);

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(tick);
  }, []);

  return (
    <>
      <header>
        <h1>orderflow</h1>
        <p className="tagline">Orders that hold stock while the customer pays.</p>
        <label className="token">
          Admin token
          <input type="password" value={token} onChange={(e) => setToken(e.target.value)} placeholder="if the server needs one" autoComplete="off" name="adminToken" />
        </label>
      </header>
      <main>
        <ErrorMessage error={error} />
        <div className="grid">
          <PlaceOrder products={products} onPlaced={() => refresh()} />
          <Products products={products} onChange={refresh} />
        </div>
        <Orders
          orders={orders}
          now={now}
          filters={filters}
          onFilters={(f) => {
            setFilters(f);
            setCursors([]);
          }}
          hasOlder={nextCursor !== null}
          onOlder={() => nextCursor && setCursors([...cursors, nextCursor])}
          onNewest={() => setCursors([])}
          paged={cursors.length > 0}
          onChange={refresh}
        />
      </main>
    </>
  );
}
