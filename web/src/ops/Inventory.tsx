import { useState } from "react";
import { queries } from "../shared/api";
import { ErrorText, Field, Loading, Table, useLoad, When } from "../shared/ui";

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
          <Table
            rows={expiring.data}
            rowKey={(b) => b.id}
            columns={[
              { head: "Batch", cell: (b) => b.id.slice(0, 8) },
              { head: "Product", cell: (b) => b.product_id.slice(0, 8) },
              { head: "On hand", cell: (b) => b.on_hand },
              { head: "Reserved", cell: (b) => b.reserved },
              { head: "Expires", cell: (b) => <When at={b.expires_at} /> },
            ]}
          />
          {expiring.data?.length === 0 && <p className="muted">None.</p>}
          <h2>Spoilage</h2>
          <Table
            rows={spoilage.data}
            rowKey={(s) => s.reason}
            columns={[
              { head: "Reason", cell: (s) => s.reason.replace(/_/g, " ") },
              { head: "Quantity", cell: (s) => s.quantity },
            ]}
          />
          <h2>Stock</h2>
          <ErrorText error={stock.error} />
          <Table
            rows={stock.data?.slice(0, 200)}
            rowKey={(r) => r.product_id}
            columns={[
              { head: "Product", cell: (r) => r.product_id.slice(0, 8) },
              { head: "On hand", cell: (r) => r.on_hand },
              { head: "Reserved", cell: (r) => r.reserved },
              { head: "Available", cell: (r) => r.available },
              { head: "Batches", cell: (r) => r.batches },
              { head: "Next expiry", cell: (r) => <When at={r.next_expiry} /> },
            ]}
          />
        </>
      )}
    </>
  );
}
