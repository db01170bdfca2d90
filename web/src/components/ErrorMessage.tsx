import { ApiError } from "../api";

/** The server's error, plainly: its message, with the code for the curious. */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const e =
    error instanceof ApiError ? error : new ApiError("error", String((error as Error)?.message ?? error), 0);
  return (
    <p className="error" role="alert">
      {friendly(e)} <code>{e.code}</code>
    </p>
  );
}

function friendly(e: ApiError): string {
  // The refusals of an order name its offending products (details.productIds); without
  // them (a server from before carts) the words stay general.
  const ids = e.productIds.join(", ");
  switch (e.code) {
    case "out_of_stock":
      return ids ? `Out of stock: not enough units left of ${ids}.` : "Out of stock: not enough units left for this order.";
    case "limit_exceeded":
      return ids ? `Over the limit per customer for ${ids}.` : e.message;
    case "product_not_found":
      return ids ? `No such product: ${ids}.` : e.message;
    case "unauthorized":
      return "This needs the admin token (set it above).";
    default:
      return e.message;
  }
}
