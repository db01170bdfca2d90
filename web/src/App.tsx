import { useCallback, useEffect, useRef, useState } from "react";

import { api, setAdminToken, type Order, type Product } from "./api";
import { ErrorMessage } from "./components/ErrorMessage";
import { LiveIndicator } from "./components/LiveIndicator";
import { OrderDetail } from "./components/OrderDetail";
import { Orders, type Filters } from "./components/Orders";
import { PlaceOrder } from "./components/PlaceOrder";
import { Products } from "./components/Products";
import { openLive, type LiveMode, type OrderChange } from "./live";
import { throttle } from "./logic";

/** How often the page asks the server what changed when it has no live stream. */
const POLL_MS = 1000;
/** Live changes refresh the page's lists at once, then at most this often during a burst. */
const LIVE_REFRESH_MS = 250;
const TOKEN_KEY = "orderflow.adminToken";

/** `#order/<id>`: the order whose details are open, so that they can be linked and go back. */
function orderInHash(): string | null {
  const m = /^#order\/([^/]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

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
  // The token the stream uses: settles after typing, so the stream is not reopened per key.
  const [streamToken, setStreamToken] = useState(token.trim());
  const [mode, setMode] = useState<LiveMode>("connecting");
  const [delay, setDelay] = useState("5");
  const [selected, setSelected] = useState<string | null>(orderInHash);

  useEffect(() => {
    setAdminToken(token);
    localStorage.setItem(TOKEN_KEY, token);
    const t = setTimeout(() => setStreamToken(token.trim()), 400);
    return () => clearTimeout(t);
  }, [token]);

  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  // Only the answer to the latest refresh counts: answers can overtake each other.
  const generation = useRef(0);
  const refresh = useCallback(async () => {
    const gen = ++generation.current;
    // Each on its own: products are public, while the listing of every customer's orders
    // needs the admin token when the server has one.
    const [ps, page] = await Promise.allSettled([
      api.products(),
      api.orders({ userId: filters.userId.trim(), status: filters.status, cursor }),
    ]);
    if (gen !== generation.current) return;
    if (ps.status === "fulfilled") setProducts(ps.value);
    if (page.status === "fulfilled") {
      setOrders(page.value.orders);
      setNextCursor(page.value.nextCursor);
    }
    const failed = [ps, page].find((r) => r.status === "rejected");
    setError(failed ? failed.reason : null);
  }, [filters, cursor]);

  // Without a stream, poll; with one, refresh once (when it opens: nothing missed before).
  useEffect(() => {
    refresh();
    if (mode === "live") return;
    const poll = setInterval(refresh, POLL_MS);
    return () => clearInterval(poll);
  }, [refresh, mode]);

  // Live changes: each burst of events refetches the current page of orders and the
  // products together (at once, then at most every LIVE_REFRESH_MS), rather than patching
  // the row from the event: the page's membership (new orders, filters) and the stock
  // counters must come from the server anyway, and a row patched ahead of the counters
  // beside it would show, say, a timed-out order whose stock is not back yet.
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  const listeners = useRef(new Set<(c: OrderChange) => void>());
  const subscribe = useCallback((fn: (c: OrderChange) => void) => {
    listeners.current.add(fn);
    return () => {
      listeners.current.delete(fn);
    };
  }, []);
  useEffect(() => {
    const soon = throttle(() => refreshRef.current(), LIVE_REFRESH_MS);
    const close = openLive({
      token: streamToken,
      onMode: setMode,
      onChange: (c) => {
        soon();
        listeners.current.forEach((fn) => fn(c));
      },
    });
    return () => {
      close();
      soon.cancel();
    };
  }, [streamToken]);

  useEffect(() => {
    const tick = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(tick);
  }, []);

  useEffect(() => {
    const onHash = () => setSelected(orderInHash());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  function openOrder(orderId: string) {
    const hash = `#order/${encodeURIComponent(orderId)}`;
    if (location.hash !== hash) location.hash = hash;
    setSelected(orderId);
  }

  function closeOrder() {
    const was = selected;
    if (location.hash) history.pushState(null, "", location.pathname + location.search);
    setSelected(null);
    // Back to where the keyboard was: the order's button in the list.
    if (was) {
      const b = document.querySelector<HTMLButtonElement>(`tr[data-order="${CSS.escape(was)}"] button.order-link`);
      b?.focus();
    }
  }

  return (
    <>
      <header>
        <h1>orderflow</h1>
        <p className="tagline">Orders that hold stock while the customer pays.</p>
        <LiveIndicator mode={mode} />
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
        {selected && (
          <OrderDetail
            key={selected}
            orderId={selected}
            mode={mode}
            subscribe={subscribe}
            pollMs={POLL_MS}
            now={now}
            delay={delay}
            onClose={closeOrder}
            onChange={refresh}
          />
        )}
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
          delay={delay}
          onDelay={setDelay}
          selected={selected}
          onOpen={openOrder}
        />
      </main>
    </>
  );
}
