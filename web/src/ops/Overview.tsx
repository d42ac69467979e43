import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { follow } from "../shared/live";
import { Loading, When } from "../shared/ui";
import type { components } from "../api/query";

type Attention = components["schemas"]["Attention"];

export function Overview() {
  const [a, setA] = useState<Attention | null>(null);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    const f = follow("/v1/streams/ops", "attention", (d) => setA(d as Attention), setState);
    return () => f.close();
  }, []);
  return (
    <>
      <h1>What needs attention</h1>
      <p className="muted" aria-live="polite">
        {state === "open" ? "Live." : "Connecting to live updates…"}
      </p>
      {!a && <Loading what="the picture" />}
      {a && (
        <>
          <div className="stats">
            <Stat label="Suppliers to review" n={a.suppliers_pending.count} to="/suppliers" />
            <Stat label="Stuck or parked sagas" n={a.sagas.count} to="/sagas" />
            <Stat label="Dead events" n={a.dead_events.count} to="/sagas" />
            <Stat label="Low stock" n={a.low_stock.count} to="/inventory" />
            <Stat label="Batches expiring soon" n={a.expiring_soon.count} to="/inventory" />
          </div>
          <h2>Suppliers waiting for review</h2>
          {a.suppliers_pending.count === 0 && <p className="muted">None.</p>}
          <ul aria-label="Suppliers waiting for review">
            {a.suppliers_pending.items.map((s) => (
              <li key={s.id}>
                <Link to={`/suppliers/${s.id}`}>{s.legal_name}</Link> · {s.documents} document(s) · registered <When at={s.created_at} />
              </li>
            ))}
          </ul>
          <h2>Sagas in trouble</h2>
          {a.sagas.count === 0 && <p className="muted">None.</p>}
          {a.dead_events.count > 0 && (
            <p>
              {a.dead_events.count} dead event(s), the latest: {a.dead_events.items[0]?.event_type ?? "?"} in {a.dead_events.items[0]?.projection}: {a.dead_events.items[0]?.error}
            </p>
          )}
          <ul>
            {a.sagas.items.map((s) => (
              <li key={s.order_id}>
                <Link to={`/orders/${s.order_id}`}>{s.order_id.slice(0, 8)}</Link> {s.status} at {s.last_step ?? "?"}: {s.last_error}
              </li>
            ))}
          </ul>
          <h2>Batches expiring soon</h2>
          {a.expiring_soon.count === 0 && <p className="muted">None.</p>}
          <ul>
            {a.expiring_soon.items.map((b) => (
              <li key={b.batch_id}>
                {b.name}: {b.on_hand} on hand, expires <When at={b.expires_at} />
              </li>
            ))}
          </ul>
          <h2>Low stock</h2>
          {a.low_stock.count === 0 && <p className="muted">None.</p>}
          <ul>
            {a.low_stock.items.map((l) => (
              <li key={`${l.product_id}/${l.warehouse_id}`}>
                {l.name}: {l.available} available (threshold {l.threshold})
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}

function Stat({ label, n, to }: { label: string; n: number; to: string }) {
  return (
    <Link to={to} className="stat">
      <strong>{n}</strong>
      {label}
    </Link>
  );
}
