import { describe, expect, it } from "vitest";
import { canonicalEnvelope, canonicalJson, canonicalTimestamp, verifyChain, type StoredEnvelope } from "./chain";
import { webcrypto } from "node:crypto";

if (!globalThis.crypto) (globalThis as { crypto: unknown }).crypto = webcrypto;

const base: StoredEnvelope = {
  event_id: "00000000-0000-0000-0000-000000000001",
  aggregate_type: "Supplier",
  aggregate_id: "s-1",
  sequence: 1,
  event_type: "SupplierApproved",
  event_version: 1,
  occurred_at: "2026-11-22T10:00:00.5Z",
  metadata: { b: "2", a: "1" },
  payload: { note: "ok", z: [1, { y: true, x: null }] },
};

async function link(prev: Uint8Array, e: StoredEnvelope): Promise<string> {
  const enc = new TextEncoder();
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(canonicalEnvelope(e))));
  const both = new Uint8Array(64);
  both.set(prev);
  both.set(d, 32);
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", both)), (x) =>
    x.toString(16).padStart(2, "0"),
  ).join("");
}

describe("canonical form", () => {
  it("sorts keys by bytes, keeps no whitespace, escapes like JSON", () => {
    expect(canonicalJson({ b: 1, a: [true, null, "é\n\"q\""], B: {} })).toBe(
      '{"B":{},"a":[true,null,"é\\n\\"q\\""],"b":1}',
    );
  });
  it("writes six fractional digits in UTC", () => {
    expect(canonicalTimestamp("2026-11-22T10:00:00.5Z")).toBe("2026-11-22T10:00:00.500000Z");
    expect(canonicalTimestamp("2026-11-22T10:00:00Z")).toBe("2026-11-22T10:00:00.000000Z");
    expect(canonicalTimestamp("2026-11-22T10:00:00.123456789+00:00")).toBe("2026-11-22T10:00:00.123456Z");
  });
  it("hashes the content only (not the position or the hash)", () => {
    expect(canonicalEnvelope({ ...base, global_position: 99, hash: "x" })).toBe(canonicalEnvelope(base));
    expect(canonicalEnvelope(base)).toBe(
      '{"aggregate_id":"s-1","aggregate_type":"Supplier","event_id":"00000000-0000-0000-0000-000000000001",' +
        '"event_type":"SupplierApproved","event_version":1,"metadata":{"a":"1","b":"2"},' +
        '"occurred_at":"2026-11-22T10:00:00.500000Z","payload":{"note":"ok","z":[1,{"x":null,"y":true}]},"sequence":1}',
    );
  });
});

describe("chain", () => {
  it("holds when every link is recomputed, breaks at the first tampered event", async () => {
    const first = { ...base, hash: "" };
    first.hash = await link(new Uint8Array(32), first);
    const prev = Uint8Array.from(first.hash.match(/../g)!.map((h) => parseInt(h, 16)));
    const second = { ...base, sequence: 2, event_id: "00000000-0000-0000-0000-000000000002", hash: "" };
    second.hash = await link(prev, second);
    expect(await verifyChain([second, first])).toEqual({ ok: true, events: 2, head: second.hash });
    const tampered = { ...first, payload: { note: "changed" } };
    const r = await verifyChain([tampered, second]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.sequence).toBe(1);
  });
});
