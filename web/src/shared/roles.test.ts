import { describe, expect, it } from "vitest";
import { capabilities, claimsOf } from "./roles";

const jwt = (claims: object) =>
  `x.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.y`;

describe("roles", () => {
  it("reads a token's claims", () => {
    expect(claimsOf(jwt({ sub: "a", role: "auditor", name: "Zoë" }))?.name).toBe("Zoë");
    expect(claimsOf("nonsense")).toBeNull();
    expect(claimsOf(undefined)).toBeNull();
  });
  it("lets an auditor read and never change", () => {
    const c = capabilities(claimsOf(jwt({ sub: "a", role: "auditor", scope: "suppliers:read ops:read" })));
    expect(c).toEqual({ read: true, reviewSuppliers: false, operate: false, secondFactor: false });
  });
  it("lets an admin review and operate, with the scopes", () => {
    const c = capabilities(
      claimsOf(jwt({ sub: "a", role: "admin", scope: "suppliers:approve ops:write", amr: ["pwd", "otp"] })),
    );
    expect(c).toEqual({ read: true, reviewSuppliers: true, operate: true, secondFactor: true });
    expect(capabilities(claimsOf(jwt({ sub: "a", role: "admin" }))).operate).toBe(false);
    expect(capabilities(claimsOf(jwt({ sub: "c", role: "customer" }))).read).toBe(false);
  });
});
