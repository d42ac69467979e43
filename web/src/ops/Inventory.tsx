import { useState } from "react";
import { queries } from "../shared/api";
import { ErrorText, Field, Loading, useLoad, When } from "../shared/ui";

export function Inventory() {
  // Warehouses are where delivery slots start from.
  const slots = useLoad(() => queries.GET("/v1/delivery-slots", { params: { query: { limit: 500 } } }), []);
  const warehouses = [...new Map((slots.data?.items ?? []).map((s) => [s.warehouse_id, s.zone])).entries()];
  const [chosen, setChosen] = useState("");
  const warehouse = chosen || warehouses[0]?.[0] || "";
  const stock = useLoad(
    () => queries.GET("/v1/inventory/stock", { params: { query: { warehouse_id: warehouse } } }),
    [warehouse],
  );
  const expiring = useLoad(
    () => queries.GET("/v1/inventory/batches", { params: { query: { warehouse_id: warehouse, expiring_within: 48, limit: 100 } } }),
    [warehouse],
  );
  const spoilage = useLoad(() => queries.GET("/v1/inventory/spoilage", { params: { query: { warehouse_id: warehouse } } }), [warehouse]);
  if (slots.loading && !slots.data) return <Loading what="warehouses" />;
  return (
    <>
      <h1>Inventory</h1>
      <ErrorText error={slots.error} />
      <Field label="Warehouse">
        <select value={warehouse} onChange={(e) => setChosen(e.target.value)}>
          {warehouses.map(([id, zone]) => (
            <option key={id} value={id}>
              {zone} ({id.slice(0, 8)})
            </option>
          ))}
        </select>
      </Field>
      {warehouse && (
        <>
          <h2>Batches expiring within 48 hours</h2>
          <ErrorText error={expiring.error} />
          <table>
            <thead>
              <tr>
                <th scope="col">Batch</th>
                <th scope="col">Product</th>
                <th scope="col">On hand</th>
                <th scope="col">Reserved</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {expiring.data?.map((b) => (
                <tr key={b.id}>
                  <td>{b.id.slice(0, 8)}</td>
                  <td>{b.product_id.slice(0, 8)}</td>
                  <td>{b.on_hand}</td>
                  <td>{b.reserved}</td>
                  <td>
                    <When at={b.expires_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {expiring.data?.length === 0 && <p className="muted">None.</p>}
          <h2>Spoilage</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Reason</th>
                <th scope="col">Quantity</th>
              </tr>
            </thead>
            <tbody>
              {spoilage.data?.map((s) => (
                <tr key={s.reason}>
                  <td>{s.reason.replace(/_/g, " ")}</td>
                  <td>{s.quantity}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Stock</h2>
          <ErrorText error={stock.error} />
          <table>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">On hand</th>
                <th scope="col">Reserved</th>
                <th scope="col">Available</th>
                <th scope="col">Batches</th>
                <th scope="col">Next expiry</th>
              </tr>
            </thead>
            <tbody>
              {stock.data?.slice(0, 200).map((r) => (
                <tr key={r.product_id}>
                  <td>{r.product_id.slice(0, 8)}</td>
                  <td>{r.on_hand}</td>
                  <td>{r.reserved}</td>
                  <td>{r.available}</td>
                  <td>{r.batches}</td>
                  <td>
                    <When at={r.next_expiry} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
