// Small building blocks shared by the storefront and the console: loading and error states
// announced to assistive technology, dates and statuses shown the same way everywhere.
import { useCallback, useEffect, useState, type ReactNode } from "react";
import { describeProblem } from "./api";

export function useLoad<T>(load: () => Promise<{ data?: T; error?: unknown; response: Response }>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: string; status?: number; loading: boolean }>({ loading: true });
  const run = useCallback(async () => {
    setState((s) => ({ ...s, loading: true }));
    try {
      const { data, error, response } = await load();
      setState({ data, error: error ? describeProblem(error) : undefined, status: response.status, loading: false });
    } catch (e) {
      setState({ error: String(e), loading: false });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    void run();
  }, [run]);
  return { ...state, reload: run };
}

export function Loading({ what }: { what: string }) {
  return (
    <p role="status" aria-live="polite" className="muted">
      Loading {what}…
    </p>
  );
}

export function ErrorText({ error }: { error?: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}

export function When({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  return <time dateTime={at}>{d.toLocaleString()}</time>;
}

export function Status({ value }: { value: string }) {
  return <span className={`badge badge-${value.replace(/[^a-z_]/g, "")}`}>{value.replace(/_/g, " ")}</span>;
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint && <small className="muted">{hint}</small>}
    </label>
  );
}

/** Runs a change, showing its progress and its problem, if any. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (f: () => Promise<{ error?: unknown }>) => {
    setBusy(true);
    setError(null);
    try {
      const { error } = await f();
      if (error) setError(describeProblem(error));
      return !error;
    } catch (e) {
      setError(String(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** One column of a [`Table`]: its heading and what each row shows in it. */
export interface Column<T> {
  head: ReactNode;
  cell: (row: T) => ReactNode;
}

/** A data table with column headers (`scope="col"`) and one row per item. */
export function Table<T>({ columns, rows, rowKey, caption }: { columns: Column<T>[]; rows: T[] | undefined; rowKey: (row: T) => string; caption?: string }) {
  return (
    <table>
      {caption && <caption className="muted">{caption}</caption>}
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th key={i} scope="col">
              {c.head}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {(rows ?? []).map((r) => (
          <tr key={rowKey(r)}>
            {columns.map((c, i) => (
              <td key={i}>{c.cell(r)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The heading of a column of row actions (read by screen readers only). */
export const ACTIONS = <span className="skip">Actions</span>;
