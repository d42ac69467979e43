// The supplier history's hash chain, recomputed in the browser from the exported envelopes:
// hash = SHA-256(previous hash ‖ SHA-256(canonical envelope)), 32 zero bytes before the first
// (see schemas::chain in the backend). The canonical envelope is the envelope without
// `global_position` and `hash`, keys sorted by their UTF-8 bytes, no whitespace, `occurred_at`
// with exactly six fractional digits.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const encoder = new TextEncoder();

function byteOrder(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** Canonical JSON: sorted keys (by UTF-8 bytes), no insignificant whitespace. */
export function canonicalJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).sort(byteOrder);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** RFC 3339 UTC with exactly six fractional digits. */
export function canonicalTimestamp(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|\+00:00)$/.exec(t);
  if (!m) throw new Error(`not a UTC timestamp: ${t}`);
  return `${m[1]}.${(m[2] ?? "").padEnd(6, "0").slice(0, 6)}Z`;
}

export interface StoredEnvelope {
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  sequence: number;
  event_type: string;
  event_version: number;
  occurred_at: string;
  metadata: { [k: string]: Json };
  payload: Json;
  hash?: string | null;
  global_position?: number;
}

/** The bytes that are hashed for one envelope. */
export function canonicalEnvelope(e: StoredEnvelope): string {
  return canonicalJson({
    aggregate_id: e.aggregate_id,
    aggregate_type: e.aggregate_type,
    event_id: e.event_id,
    event_type: e.event_type,
    event_version: e.event_version,
    metadata: e.metadata,
    occurred_at: canonicalTimestamp(e.occurred_at),
    payload: e.payload,
    sequence: e.sequence,
  });
}

const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

async function sha256(bytes: Uint8Array): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", bytes as BufferSource);
}

export type ChainResult =
  | { ok: true; events: number; head: string | null }
  | { ok: false; sequence: number; stored: string | null | undefined; recomputed: string };

/** Recomputes every link in sequence order and compares it with the stored hash. */
export async function verifyChain(events: StoredEnvelope[]): Promise<ChainResult> {
  let prev: Uint8Array = new Uint8Array(32);
  const sorted = [...events].sort((a, b) => a.sequence - b.sequence);
  for (const e of sorted) {
    const digest = new Uint8Array(await sha256(encoder.encode(canonicalEnvelope(e))));
    const both = new Uint8Array(64);
    both.set(prev, 0);
    both.set(digest, 32);
    const link = await sha256(both);
    const recomputed = hex(link);
    if (e.hash !== recomputed) return { ok: false, sequence: e.sequence, stored: e.hash, recomputed };
    prev = new Uint8Array(link);
  }
  return { ok: true, events: sorted.length, head: sorted.length ? hex(prev.buffer as ArrayBuffer) : null };
}
