import { describe, expect, it } from "vitest";

// api.ts reads `location` when loaded: give it one.
(globalThis as { location?: unknown }).location = new URL("http://127.0.0.1:8000/");
const { describeProblem, waitsForPosition } = await import("./api");

describe("api", () => {
  it("asks for read-your-writes only where the query API takes it", () => {
    expect(waitsForPosition("/v1/customers/me")).toBe(true);
    expect(waitsForPosition("/v1/streams/orders/x")).toBe(true);
    expect(waitsForPosition("/v1/ops/sagas")).toBe(false);
    expect(waitsForPosition("/v1/audit/keys")).toBe(false);
  });
  it("reads a problem as one line", () => {
    expect(
      describeProblem({ title: "The request is invalid", detail: "2 fields", fields: [{ field: "email", message: "an e-mail address" }] }),
    ).toBe("The request is invalid — 2 fields — email: an e-mail address");
    expect(describeProblem(undefined)).toBe("Something went wrong");
  });
});
