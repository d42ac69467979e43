import { Link } from "react-router-dom";
import { commands, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { formatMoney } from "../shared/money";
import { ACTIONS, ErrorText, Loading, Table, useAction, useLoad } from "../shared/ui";
import { NeedsLogin } from "./App";
import type { components } from "../api/query";

type Warning = components["schemas"]["CartWarning"];

/** One sentence per warning, for a person. */
export function warningText(w: Warning, name?: string | null): string {
  const d = (w.details ?? {}) as Record<string, { amount_minor: number; currency: string } | string | undefined>;
  const what = name ?? "A product";
  switch (w.code) {
    case "price_changed":
      return `${what}: the price changed from ${formatMoney(d.unit_price_seen as never)} to ${formatMoney(d.unit_price as never)}.`;
    case "discontinued":
      return `${what} is no longer sold.`;
    case "insufficient_stock":
      return `${what}: only ${String(d.available ?? "a little")} left.`;
    case "supplier_not_active":
      return `${what}: its supplier is not taking orders now.`;
    case "expires_before_slot":
      return `${what} would expire before the chosen delivery slot.`;
    default:
      return `${what}: ${w.code.replace(/_/g, " ")}.`;
  }
}

export function CartPage() {
  const { claims } = useSession();
  const cart = useLoad(() => queries.GET("/v1/carts/current", {}), [claims?.sub]);
  const action = useAction();
  if (!claims) return <NeedsLogin what="your cart" />;
  if (cart.loading && !cart.data) return <Loading what="your cart" />;
  const c = cart.data;
  const setQuantity = async (product_id: string, quantity: number) => {
    await action.run(() =>
      commands.PUT("/v1/carts/current/lines/{product_id}", {
        params: { path: { product_id }, header: { "Idempotency-Key": idempotencyKey() } },
        body: { quantity },
      }),
    );
    await cart.reload();
  };
  return (
    <>
      <h1>Your cart</h1>
      <ErrorText error={cart.error ?? action.error} />
      {c && c.lines.length === 0 && (
        <p>
          Your cart is empty. <Link to="/">Find something fresh</Link>.
        </p>
      )}
      {c && c.warnings.length > 0 && (
        <section aria-label="Before you check out">
          {c.warnings.map((w, i) => (
            <p key={i} className="warning" role="alert">
              {warningText(w, c.lines.find((l) => l.product_id === w.product_id)?.name)}
            </p>
          ))}
        </section>
      )}
      {c && c.lines.length > 0 && (
        <>
          <Table
            caption="Priced from the catalog now"
            rows={c.lines}
            rowKey={(l) => l.product_id}
            columns={[
              { head: "Product", cell: (l) => <Link to={`/products/${l.product_id}`}>{l.name ?? l.product_id}</Link> },
              {
                head: "Quantity",
                cell: (l) => (
                  <>
                    <input
                      type="number"
                      min={0}
                      step="any"
                      aria-label={`Quantity of ${l.name ?? "product"}`}
                      defaultValue={l.quantity}
                      onBlur={(e) => e.target.value !== l.quantity && void setQuantity(l.product_id, Number(e.target.value))}
                      style={{ width: "6rem" }}
                    />{" "}
                    {l.unit}
                  </>
                ),
              },
              { head: "Unit price", cell: (l) => formatMoney(l.unit_price ?? l.unit_price_seen) },
              { head: "Total", cell: (l) => formatMoney(l.line_total) },
              {
                head: ACTIONS,
                cell: (l) => (
                  <button className="secondary" disabled={action.busy} onClick={() => void setQuantity(l.product_id, 0)}>
                    Remove
                  </button>
                ),
              },
            ]}
          />
          <p className="price">Subtotal: {formatMoney(c.subtotal)}</p>
          <Link to="/checkout" className="button">
            Go to checkout
          </Link>
        </>
      )}
    </>
  );
}
