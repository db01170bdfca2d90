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
  switch (e.code) {
    case "out_of_stock":
      return "Out of stock: not enough units left for this order.";
    case "unauthorized":
      return "This needs the admin token (set it above).";
    default:
      return e.message;
  }
}
