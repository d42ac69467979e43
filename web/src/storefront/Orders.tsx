import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { follow } from "../shared/live";
import { formatMoney } from "../shared/money";
import { frameOf, fromE6, project, type Point } from "../shared/geo";
import { Timeline, merge, type TimelineItem } from "../shared/Timeline";
import { ErrorText, Loading, Status, Table, useLoad, When } from "../shared/ui";
import { NeedsLogin } from "./App";
import type { components } from "../api/query";

type Delivery = components["schemas"]["DeliveryView"];

export function OrdersPage() {
  const { claims } = useSession();
  const orders = useLoad(() => queries.GET("/v1/orders", { params: { query: { limit: 50 } } }), [claims?.sub]);
  if (!claims) return <NeedsLogin what="your orders" />;
  return (
    <>
      <h1>Your orders</h1>
      {orders.loading && <Loading what="orders" />}
      <ErrorText error={orders.error} />
      {orders.data?.items.length === 0 && <p>No orders yet.</p>}
      <Table
        rows={orders.data?.items}
        rowKey={(o) => o.id}
        columns={[
          { head: "Placed", cell: (o) => <When at={o.created_at} /> },
          { head: "Status", cell: (o) => <Status value={o.status} /> },
          { head: "Total", cell: (o) => formatMoney(o.total) },
          { head: "Order", cell: (o) => <Link to={`/orders/${o.id}`}>Track order {o.id.slice(0, 8)}</Link> },
        ]}
      />
    </>
  );
}

/** The delivery area, drawn: the warehouse, the address, the rider's path and position. */
export function DeliveryMap({ delivery }: { delivery: Delivery }) {
  const pickup = fromE6(delivery.pickup.lat_e6, delivery.pickup.lon_e6);
  const dest = delivery.destination as { location?: { lat?: number; lon?: number; lat_e6?: number; lon_e6?: number } };
  const loc = dest.location;
  const destination: Point | null = loc
    ? loc.lat_e6 !== undefined
      ? fromE6(loc.lat_e6, loc.lon_e6 ?? 0)
      : { lat: loc.lat ?? 0, lon: loc.lon ?? 0 }
    : null;
  const path = delivery.positions.map((p) => fromE6(p.lat_e6, p.lon_e6));
  const all = [pickup, ...(destination ? [destination] : []), ...path];
  const frame = frameOf(all);
  if (!frame) return null;
  const W = 480, H = 320;
  const at = (p: Point) => project(p, frame, W, H);
  const rider = path[path.length - 1];
  const line = path.map((p) => `${at(p).x.toFixed(1)},${at(p).y.toFixed(1)}`).join(" ");
  return (
    <figure>
      <svg className="map" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Delivery map: ${path.length} rider positions reported`}>
        <rect x="0" y="0" width={W} height={H} fill="#eef3ef" />
        {path.length > 1 && <polyline points={line} fill="none" stroke="#1f6b3a" strokeWidth="3" strokeDasharray="6 4" />}
        <g>
          <rect x={at(pickup).x - 8} y={at(pickup).y - 8} width="16" height="16" fill="#4d5650" />
          <text x={at(pickup).x + 12} y={at(pickup).y + 5} fontSize="14" fill="#1b1f1c">Warehouse</text>
        </g>
        {destination && (
          <g>
            <circle cx={at(destination).x} cy={at(destination).y} r="9" fill="#a3141f" />
            <text x={at(destination).x + 12} y={at(destination).y + 5} fontSize="14" fill="#1b1f1c">You</text>
          </g>
        )}
        {rider && (
          <g data-testid="rider">
            <circle cx={at(rider).x} cy={at(rider).y} r="10" fill="#1f6b3a" stroke="#fff" strokeWidth="3" />
            <text x={at(rider).x + 12} y={at(rider).y - 8} fontSize="14" fill="#1b1f1c">Rider</text>
          </g>
        )}
      </svg>
      <figcaption className="muted">
        {delivery.eta ? (
          <>
            Expected <When at={delivery.eta} />
          </>
        ) : (
          "Positions appear once the rider is on the way."
        )}
      </figcaption>
    </figure>
  );
}

export function OrderPage() {
  const { id = "" } = useParams();
  const { claims } = useSession();
  const order = useLoad(() => queries.GET("/v1/orders/{id}", { params: { path: { id } } }), [id, claims?.sub]);
  const [live, setLive] = useState<TimelineItem[]>([]);
  const [connection, setConnection] = useState<string>("connecting");
  const [delivery, setDelivery] = useState<Delivery | null>(null);
  const deliveryId = order.data?.delivery?.id;

  useEffect(() => {
    if (!claims) return;
    const f = follow(`/v1/streams/orders/${id}`, "timeline", (d) => {
      setLive((l) => [...l, d as TimelineItem]);
    }, setConnection);
    return () => f.close();
  }, [id, claims]);

  // Each new entry may change the status or the rider's position: read them again.
  useEffect(() => {
    if (live.length > 0) void order.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live.length]);
  useEffect(() => {
    if (!deliveryId) return;
    void queries.GET("/v1/deliveries/{id}", { params: { path: { id: deliveryId } } }).then(({ data }) => data && setDelivery(data));
  }, [deliveryId, live.length]);

  if (!claims) return <NeedsLogin what="this order" />;
  if (order.loading && !order.data) return <Loading what="the order" />;
  if (!order.data) return <ErrorText error={order.error ?? "No such order"} />;
  const o = order.data;
  const timeline = merge(o.timeline as TimelineItem[], live);
  return (
    <>
      <p>
        <Link to="/orders">← Your orders</Link>
      </p>
      <h1>
        Order {o.id.slice(0, 8)} <Status value={o.status} />
      </h1>
      <p className="muted" aria-live="polite">
        {connection === "open" ? "Live: updates appear as they happen." : "Reconnecting to live updates…"}
      </p>
      <div className="row" style={{ alignItems: "flex-start" }}>
        <section style={{ flex: "1 1 20rem" }}>
          <h2>What happened</h2>
          <Timeline items={timeline} />
        </section>
        <section style={{ flex: "1 1 24rem" }}>
          <h2>Delivery</h2>
          {delivery ? <DeliveryMap delivery={delivery} /> : <p className="muted">A rider is assigned once the order is paid.</p>}
          <p>
            Slot <When at={o.slot_starts_at} /> – {o.slot_ends_at && new Date(o.slot_ends_at).toLocaleTimeString()}
          </p>
        </section>
      </div>
      <h2>Lines</h2>
      <Table
        rows={o.lines as { product_id: string; name?: string; quantity: string; line_total?: { amount_minor: number; currency: string } }[]}
        rowKey={(l) => l.product_id}
        columns={[
          { head: "Product", cell: (l) => l.name ?? l.product_id },
          { head: "Quantity", cell: (l) => l.quantity },
          { head: "Total", cell: (l) => formatMoney(l.line_total) },
        ]}
      />
      <p className="price">Total: {formatMoney(o.total)}</p>
    </>
  );
}
