// What a person may do, from their access token's claims (`role`, `scope`): screens show only
// the controls the services would accept, so an auditor sees and never changes.
export interface Claims {
  sub: string;
  role?: string;
  scope?: string;
  name?: string;
  preferred_username?: string;
  amr?: string[];
}

/** The claims of a JWT (not verified here: the services verify every token). */
export function claimsOf(token: string | undefined): Claims | null {
  if (!token) return null;
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

export function hasScope(c: Claims | null, scope: string): boolean {
  return !!c?.scope?.split(" ").includes(scope);
}

/** The console's capabilities. */
export function capabilities(c: Claims | null) {
  const admin = c?.role === "admin";
  return {
    read: admin || c?.role === "auditor",
    reviewSuppliers: admin && hasScope(c, "suppliers:approve"),
    operate: admin && hasScope(c, "ops:write"),
    secondFactor: !!c?.amr?.some((m) => ["otp", "mfa", "hwk", "sms"].includes(m)),
  };
}
