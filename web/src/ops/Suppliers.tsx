import { useEffect, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { commands, describeProblem, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { verifyChain, type ChainResult, type StoredEnvelope } from "../shared/chain";
import { capabilities } from "../shared/roles";
import { ErrorText, Field, Loading, Status, Table, useAction, useLoad, When } from "../shared/ui";

const STATUSES = ["pending", "approved", "rejected", "suspended"];

export function Suppliers() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "pending";
  const list = useLoad(() => queries.GET("/v1/suppliers", { params: { query: { status, limit: 100 } } }), [status]);
  return (
    <>
      <h1>Suppliers</h1>
      <Field label="Status">
        <select value={status} onChange={(e) => setParams({ status: e.target.value })}>
          {STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </Field>
      {list.loading && <Loading what="suppliers" />}
      <ErrorText error={list.error} />
      <Table
        rows={list.data?.items}
        rowKey={(s) => s.id}
        columns={[
          { head: "Supplier", cell: (s) => <Link to={`/suppliers/${s.id}`}>{s.legal_name}</Link> },
          { head: "Status", cell: (s) => <Status value={s.status} /> },
          { head: "Documents", cell: (s) => (s.documents as { kind: string }[]).map((d) => d.kind.replace(/_/g, " ")).join(", ") || "none" },
          { head: "Registered", cell: (s) => <When at={s.created_at} /> },
        ]}
      />
    </>
  );
}

/** Who did it: a person (subject and role) or a service. */
function actorText(actor: unknown): string {
  const a = actor as { sub?: string; role?: string; service?: string };
  return a.sub ? `${a.sub} (${a.role})` : (a.service ?? "—");
}

type Decision = "approve" | "reject" | "suspend" | "reinstate";
const DECISIONS: Record<string, Decision[]> = {
  pending: ["approve", "reject"],
  approved: ["suspend"],
  suspended: ["reinstate"],
  rejected: [],
};

export function SupplierDetail() {
  const { id = "" } = useParams();
  const { claims } = useSession();
  const can = capabilities(claims);
  const supplier = useLoad(() => queries.GET("/v1/suppliers/{id}", { params: { path: { id } } }), [id]);
  const history = useLoad(() => queries.GET("/v1/suppliers/{id}/history", { params: { path: { id } } }), [id]);
  const [chain, setChain] = useState<ChainResult | { error: string } | null>(null);
  const [words, setWords] = useState("");
  const action = useAction();

  // The chain, recomputed here from the exported envelopes (not taken on trust).
  const exportDoc = async () => {
    const { data, error } = await queries.GET("/v1/suppliers/{id}/history/export", { params: { path: { id } } });
    if (error || !data) throw new Error(describeProblem(error));
    return data as { events: StoredEnvelope[] };
  };
  useEffect(() => {
    if (!history.data) return;
    exportDoc()
      .then(async (doc) => {
        const r = await verifyChain(doc.events);
        // The history shown must be the one verified, link by link.
        const shown = history.data!.items.map((h) => h.hash ?? null);
        const verified = [...doc.events].sort((a, b) => a.sequence - b.sequence).map((e) => e.hash ?? null);
        setChain(r.ok && shown.join() !== verified.join() ? { error: "the history shown differs from the export" } : r);
      })
      .catch((e) => setChain({ error: String(e) }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [history.data]);

  const download = async () => {
    const doc = await exportDoc();
    const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `supplier-${id}-evidence.json`;
    a.click();
    URL.revokeObjectURL(url);
  };

  const decide = async (d: Decision) => {
    const header = { "Idempotency-Key": idempotencyKey() };
    const path = { id };
    const ok = await action.run(() => {
      switch (d) {
        case "approve":
          return commands.POST("/v1/suppliers/{id}/approve", { params: { path, header }, body: { note: words || undefined } });
        case "reinstate":
          return commands.POST("/v1/suppliers/{id}/reinstate", { params: { path, header }, body: { note: words || undefined } });
        case "reject":
          return commands.POST("/v1/suppliers/{id}/reject", { params: { path, header }, body: { reason: words } });
        case "suspend":
          return commands.POST("/v1/suppliers/{id}/suspend", { params: { path, header }, body: { reason: words } });
      }
    });
    if (ok) {
      setWords("");
      // Read-your-writes: the read model catches up within the visibility target.
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const { data } = await queries.GET("/v1/suppliers/{id}/history", { params: { path: { id } } });
        if ((data?.items.length ?? 0) > (history.data?.items.length ?? 0)) break;
      }
      await Promise.all([supplier.reload(), history.reload()]);
    }
  };

  if (supplier.loading && !supplier.data) return <Loading what="the supplier" />;
  const s = supplier.data;
  if (!s) return <ErrorText error={supplier.error ?? "No such supplier"} />;
  const address = s.address as { line1: string; city: string; postal_code: string; country: string };
  const decisions = DECISIONS[s.status] ?? [];
  return (
    <>
      <p>
        <Link to="/suppliers">← Suppliers</Link>
      </p>
      <h1>
        {s.legal_name} <Status value={s.status} />
      </h1>
      <section className="panel">
        <p>
          Registration {s.registration_number} · {s.contact_email} · {s.phone}
        </p>
        <p>
          {address.line1}, {address.postal_code} {address.city}, {address.country} · categories: {s.categories.join(", ")}
        </p>
        <h2>Documents</h2>
        <Table
          rows={s.documents as { kind: string; reference: string; expires_on?: string }[]}
          rowKey={(d) => d.kind}
          columns={[
            { head: "Kind", cell: (d) => d.kind.replace(/_/g, " ") },
            { head: "Reference", cell: (d) => d.reference },
            { head: "Expires", cell: (d) => d.expires_on ?? "—" },
          ]}
        />
      </section>
      {can.reviewSuppliers && decisions.length > 0 && (
        <section className="panel" aria-labelledby="decide">
          <h2 id="decide">Decide</h2>
          {!can.secondFactor && <p className="warning">Decisions need a login with a one-time code; log in again with it.</p>}
          <Field label="Reason or note" hint="A reason is required to reject or suspend; it is recorded in the history.">
            <textarea value={words} onChange={(e) => setWords(e.target.value)} rows={2} />
          </Field>
          <div className="row">
            {decisions.map((d) => (
              <button
                key={d}
                className={d === "reject" || d === "suspend" ? "danger" : undefined}
                disabled={action.busy || ((d === "reject" || d === "suspend") && !words.trim())}
                onClick={() => void decide(d)}
              >
                {d.charAt(0).toUpperCase() + d.slice(1)}
              </button>
            ))}
          </div>
          <ErrorText error={action.error} />
        </section>
      )}
      <section aria-labelledby="history">
        <h2 id="history">History</h2>
        <p role="status" aria-live="polite">
          {!chain && "Verifying the hash chain…"}
          {chain && "ok" in chain && chain.ok && (
            <span className="ok" data-testid="chain-verified">
              Hash chain verified in this browser: {chain.events} events, head {chain.head?.slice(0, 16)}…
            </span>
          )}
          {chain && "ok" in chain && !chain.ok && (
            <span className="error">Hash chain BROKEN at event {chain.sequence}: stored {chain.stored ?? "none"}, recomputed {chain.recomputed}</span>
          )}
          {chain && "error" in chain && <span className="error">Could not verify: {chain.error}</span>}
        </p>
        <button className="secondary" onClick={() => void download()}>
          Download signed evidence
        </button>
        <ErrorText error={history.error} />
        <Table
          rows={history.data?.items}
          rowKey={(h) => String(h.sequence)}
          columns={[
            { head: "#", cell: (h) => h.sequence },
            { head: "Event", cell: (h) => h.event_type },
            { head: "Status", cell: (h) => `${h.from_status ?? "—"} → ${h.to_status}` },
            { head: "Who", cell: (h) => actorText(h.actor) },
            { head: "Reason", cell: (h) => h.reason ?? "" },
            { head: "When", cell: (h) => <When at={h.occurred_at} /> },
            { head: "Link", cell: (h) => <code>{h.hash?.slice(0, 12) ?? "—"}</code> },
          ]}
        />
      </section>
    </>
  );
}
