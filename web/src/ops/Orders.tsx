import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { commands, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { follow } from "../shared/live";
import { formatMoney } from "../shared/money";
import { capabilities } from "../shared/roles";
import { Timeline, merge, type TimelineItem } from "../shared/Timeline";
import { ErrorText, Field, Loading, Status, Table, useAction, useLoad, When } from "../shared/ui";
import type { components } from "../api/query";

type Order = components["schemas"]["OrderView"];

export function OrdersBoard() {
  const list = useLoad(() => queries.GET("/v1/orders", { params: { query: { limit: 100 } } }), []);
  const [rows, setRows] = useState<Order[]>([]);
  const [state, setState] = useState("connecting");
  useEffect(() => setRows(list.data?.items ?? []), [list.data]);
  useEffect(() => {
    // Every order's timeline as it happens: the row of the order it names is read again.
    const f = follow(
      "/v1/streams/orders",
      "timeline",
      async (d) => {
        const id = (d as { order_id: string }).order_id;
        const { data } = await queries.GET("/v1/orders/{id}", { params: { path: { id } } });
        if (!data) return;
        setRows((rs) => [data, ...rs.filter((r) => r.id !== id)].slice(0, 200));
      },
      setState,
    );
    return () => f.close();
  }, []);
  return (
    <>
      <h1>Orders</h1>
      <p className="muted" aria-live="polite">
        {state === "open" ? "Live: changed orders move to the top." : "Connecting to live updates…"}
      </p>
      {list.loading && <Loading what="orders" />}
      <ErrorText error={list.error} />
      <Table
        rows={rows}
        rowKey={(o) => o.id}
        columns={[
          { head: "Order", cell: (o) => <Link to={`/orders/${o.id}`}>{o.id.slice(0, 8)}</Link> },
          { head: "Status", cell: (o) => <Status value={o.status} /> },
          { head: "Zone", cell: (o) => o.zone ?? "—" },
          { head: "Total", cell: (o) => formatMoney(o.total) },
          { head: "Updated", cell: (o) => <When at={o.updated_at} /> },
        ]}
      />
    </>
  );
}

export function OrderDetail() {
  const { id = "" } = useParams();
  const { claims } = useSession();
  const can = capabilities(claims);
  const order = useLoad(() => queries.GET("/v1/orders/{id}", { params: { path: { id } } }), [id]);
  const [live, setLive] = useState<TimelineItem[]>([]);
  const [reason, setReason] = useState("");
  const action = useAction();
  useEffect(() => {
    const f = follow(`/v1/streams/orders/${id}`, "timeline", (d) => setLive((l) => [...l, d as TimelineItem]));
    return () => f.close();
  }, [id]);
  useEffect(() => {
    if (live.length) void order.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live.length]);
  if (order.loading && !order.data) return <Loading what="the order" />;
  const o = order.data;
  if (!o) return <ErrorText error={order.error ?? "No such order"} />;
  const compensate = () =>
    action.run(() =>
      commands.POST("/v1/ops/sagas/{order_id}/compensate", {
        params: { path: { order_id: id }, header: { "Idempotency-Key": idempotencyKey() } },
        body: { reason },
      }),
    );
  const open = !["shipped", "delivered", "cancelled"].includes(o.status);
  return (
    <>
      <p>
        <Link to="/orders">← Orders</Link>
      </p>
      <h1>
        Order {o.id.slice(0, 8)} <Status value={o.status} />
      </h1>
      <p>
        {formatMoney(o.total)} · customer {o.customer} · zone {o.zone ?? "—"} · placed <When at={o.created_at} />
      </p>
      {can.operate && open && (
        <section className="panel" aria-labelledby="force">
          <h2 id="force">Force compensation</h2>
          <Field label="Reason (recorded on the order)">
            <input value={reason} onChange={(e) => setReason(e.target.value)} />
          </Field>
          <button className="danger" disabled={action.busy || !reason.trim()} onClick={() => void compensate()}>
            Cancel and compensate
          </button>
          <ErrorText error={action.error} />
        </section>
      )}
      <h2>Timeline</h2>
      <Timeline items={merge(o.timeline as TimelineItem[], live)} />
    </>
  );
}
