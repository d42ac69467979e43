import { useState } from "react";
import { Link } from "react-router-dom";
import { idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { capabilities } from "../shared/roles";
import { ErrorText, Field, Loading, Status, useAction, useLoad, When } from "../shared/ui";

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
      <table>
        <thead>
          <tr>
            <th scope="col">Order</th>
            <th scope="col">Status</th>
            <th scope="col">Step</th>
            <th scope="col">Last error</th>
            <th scope="col">Attempts</th>
            <th scope="col">Changed</th>
            {can.operate && (
              <th scope="col">
                <span className="skip">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {sagas.data?.items.map((s) => (
            <tr key={s.order_id}>
              <td>
                <Link to={`/orders/${s.order_id}`}>{s.order_id.slice(0, 8)}</Link>
              </td>
              <td>
                <Status value={s.status} />
              </td>
              <td>{s.last_step ?? "—"}</td>
              <td>{s.last_error ?? ""}</td>
              <td>{s.attempts}</td>
              <td>
                <When at={s.updated_at} />
              </td>
              {can.operate && (
                <td>
                  {["stuck", "parked", "running", "waiting"].includes(s.status) && (
                    <button disabled={action.busy} onClick={() => void retry(s.order_id)}>
                      Retry
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
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
      <table>
        <thead>
          <tr>
            <th scope="col">Where</th>
            <th scope="col">Event</th>
            <th scope="col">State</th>
            <th scope="col">Error</th>
            <th scope="col">Since</th>
            {can.operate && (
              <th scope="col">
                <span className="skip">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {dead.data?.items.map((d) => (
            <tr key={`${d.topic}/${d.partition}/${d.offset}`}>
              <td>
                {d.topic}/{d.partition}@{d.offset}
              </td>
              <td>{d.event_type ?? "?"}</td>
              <td>
                <Status value={d.state} />
              </td>
              <td>{d.error}</td>
              <td>
                <When at={d.dead_at} />
              </td>
              {can.operate && (
                <td>
                  {d.state === "dead" && (
                    <button className="danger" disabled={action.busy || !reason.trim()} onClick={() => void skip(d.topic, d.partition, d.offset)}>
                      Skip
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {dead.data?.items.length === 0 && <p className="muted">No dead event.</p>}
    </>
  );
}
