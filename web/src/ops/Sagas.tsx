import { useState } from "react";
import { Link } from "react-router-dom";
import { idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { capabilities } from "../shared/roles";
import { ACTIONS, ErrorText, Field, Loading, Status, Table, useAction, useLoad, When } from "../shared/ui";
import type { components } from "../api/query";

type Saga = components["schemas"]["SagaView"];
type DeadEvent = components["schemas"]["DeadEventView"];

const PROJECTIONS = ["suppliers", "catalog", "orders", "customers"];

export function Sagas() {
  const { claims } = useSession();
  const can = capabilities(claims);
  const [status, setStatus] = useState("stuck");
  const sagas = useLoad(() => queries.GET("/v1/ops/sagas", { params: { query: { status, limit: 100 } } }), [status]);
  const [projection, setProjection] = useState("orders");
  const dead = useLoad(
    () => queries.GET("/v1/ops/projections/{name}/dead-events", { params: { path: { name: projection }, query: { limit: 100 } } }),
    [projection],
  );
  const [done, setDone] = useState("");
  const [reason, setReason] = useState("");
  const action = useAction();

  const retry = async (order_id: string) => {
    const ok = await action.run(() =>
      queries.POST("/v1/ops/sagas/{order_id}/retry", {
        params: { path: { order_id }, header: { "Idempotency-Key": idempotencyKey() } },
      }),
    );
    if (ok) setDone(`Saga ${order_id.slice(0, 8)} runs again.`);
    await sagas.reload();
  };
  const retryDead = async () => {
    await action.run(() =>
      queries.POST("/v1/ops/projections/{name}/dead-events/retry", {
        params: { path: { name: projection }, header: { "Idempotency-Key": idempotencyKey() } },
      }),
    );
    await dead.reload();
  };
  const skip = async (topic: string, partition: number, offset: number) => {
    await action.run(() =>
      queries.POST("/v1/ops/projections/{name}/dead-events/skip", {
        params: { path: { name: projection }, header: { "Idempotency-Key": idempotencyKey() } },
        body: { topic, partition, offset, reason },
      }),
    );
    await dead.reload();
  };

  return (
    <>
      <h1>Sagas</h1>
      <Field label="Status">
        <select value={status} onChange={(e) => setStatus(e.target.value)}>
          {["stuck", "parked", "running", "waiting", "delivered", "compensated"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </Field>
      <p role="status" className="ok">
        {done}
      </p>
      <ErrorText error={sagas.error ?? action.error} />
      {sagas.loading && <Loading what="sagas" />}
      <Table
        rows={sagas.data?.items}
        rowKey={(s) => s.order_id}
        columns={[
          { head: "Order", cell: (s) => <Link to={`/orders/${s.order_id}`}>{s.order_id.slice(0, 8)}</Link> },
          { head: "Status", cell: (s) => <Status value={s.status} /> },
          { head: "Step", cell: (s) => s.last_step ?? "—" },
          { head: "Last error", cell: (s) => s.last_error ?? "" },
          { head: "Attempts", cell: (s) => s.attempts },
          { head: "Changed", cell: (s) => <When at={s.updated_at} /> },
          ...(can.operate
            ? [
                {
                  head: ACTIONS,
                  cell: (s: Saga) =>
                    ["stuck", "parked", "running", "waiting"].includes(s.status) && (
                      <button disabled={action.busy} onClick={() => void retry(s.order_id)}>
                        Retry
                      </button>
                    ),
                },
              ]
            : []),
        ]}
      />
      {sagas.data?.items.length === 0 && <p className="muted">No saga is {status}.</p>}

      <h2>Dead events</h2>
      <div className="row">
        <Field label="Projection">
          <select value={projection} onChange={(e) => setProjection(e.target.value)}>
            {PROJECTIONS.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </Field>
        {can.operate && (
          <>
            <button disabled={action.busy} onClick={() => void retryDead()}>
              Retry all
            </button>
            <Field label="Reason for a skip">
              <input value={reason} onChange={(e) => setReason(e.target.value)} />
            </Field>
          </>
        )}
      </div>
      <ErrorText error={dead.error} />
      <Table
        rows={dead.data?.items}
        rowKey={(d) => `${d.topic}/${d.partition}/${d.offset}`}
        columns={[
          { head: "Where", cell: (d) => `${d.topic}/${d.partition}@${d.offset}` },
          { head: "Event", cell: (d) => d.event_type ?? "?" },
          { head: "State", cell: (d) => <Status value={d.state} /> },
          { head: "Error", cell: (d) => d.error },
          { head: "Since", cell: (d) => <When at={d.dead_at} /> },
          ...(can.operate
            ? [
                {
                  head: ACTIONS,
                  cell: (d: DeadEvent) =>
                    d.state === "dead" && (
                      <button className="danger" disabled={action.busy || !reason.trim()} onClick={() => void skip(d.topic, d.partition, d.offset)}>
                        Skip
                      </button>
                    ),
                },
              ]
            : []),
        ]}
      />
      {dead.data?.items.length === 0 && <p className="muted">No dead event.</p>}
    </>
  );
}
