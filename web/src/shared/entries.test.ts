import { describe, expect, it } from "vitest";
import { humanise, merge } from "./entries";

const e = (seq: number, at: string, type = "OrderPlaced") => ({
  event_type: type, occurred_at: at, aggregate_type: "Order", aggregate_id: "o", sequence: seq,
});

describe("timeline", () => {
  it("reads event types as words", () => {
    expect(humanise("DeliveryLocationReported")).toBe("Delivery location reported");
  });
  it("adds live entries once, in time order", () => {
    const a = [e(1, "2026-12-01T10:00:00Z")];
    const merged = merge(a, [e(2, "2026-12-01T10:05:00Z", "OrderPaid"), e(1, "2026-12-01T10:00:00Z")]);
    expect(merged.map((t) => t.sequence)).toEqual([1, 2]);
  });
});
