import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { commands, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { formatMoney } from "../shared/money";
import { ErrorText, Field, Loading, useAction, useLoad } from "../shared/ui";

export function ProductPage() {
  const { id = "" } = useParams();
  const { claims, session } = useSession();
  const product = useLoad(() => queries.GET("/v1/products/{id}", { params: { path: { id } } }), [id]);
  const [quantity, setQuantity] = useState("1");
  const [added, setAdded] = useState(false);
  const action = useAction();
  if (product.loading && !product.data) return <Loading what="the product" />;
  if (!product.data) return <ErrorText error={product.error ?? "No such product"} />;
  const p = product.data;
  const images = (p.images ?? []).filter((i) => i.status === "ready" && i.medium);
  const nutrition = (p.nutrition ?? null) as Record<string, unknown> | null;

  const add = async () => {
    setAdded(false);
    const ok = await action.run(() =>
      commands.PUT("/v1/carts/current/lines/{product_id}", {
        params: { path: { product_id: id }, header: { "Idempotency-Key": idempotencyKey() } },
        body: { quantity: Number(quantity) },
      }),
    );
    setAdded(ok);
  };

  return (
    <article>
      <p>
        <Link to="/">← Back to the shop</Link>
      </p>
      <h1>{p.name}</h1>
      <div className="row">
        {images.map((i) => (
          <img
            key={i.image_id}
            src={`/media/${(i.medium as { key: string }).key}`}
            alt={`${p.name}, photo`}
            width={(i.medium as { width?: number }).width}
            height={(i.medium as { height?: number }).height}
            style={{ maxWidth: "20rem", height: "auto", borderRadius: 6 }}
          />
        ))}
      </div>
      <p className="price">
        {formatMoney(p.price)} per {p.unit}
      </p>
      <p>
        {p.category}
        {p.tags.length > 0 && ` · ${p.tags.join(", ")}`} · from {p.origin_country} · sold by {p.supplier_name ?? "a supplier"}
      </p>
      <p>{p.in_stock ? `${p.available} ${p.unit} available` : "Out of stock"}</p>
      {nutrition && (
        <section>
          <h2>Nutrition (per 100 g)</h2>
          <table>
            <tbody>
              {Object.entries(nutrition).map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k.replace(/_/g, " ")}</th>
                  <td>{String(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section className="panel">
        <h2>Buy</h2>
        {claims ? (
          <div className="row">
            <Field label={`Quantity (${p.unit})`}>
              <input type="number" min={0} step={p.unit === "kg" ? 0.1 : 1} value={quantity} onChange={(e) => setQuantity(e.target.value)} />
            </Field>
            <button onClick={() => void add()} disabled={action.busy || !p.orderable}>
              Add to cart
            </button>
            {added && (
              <span role="status" className="ok">
                Added. <Link to="/cart">View the cart</Link>
              </span>
            )}
          </div>
        ) : (
          <button onClick={() => void session.login()}>Log in to buy</button>
        )}
        <ErrorText error={action.error} />
      </section>
    </article>
  );
}
