// Typed clients for the two services behind the gateway, generated from their OpenAPI
// documents (npm run gen): a route, parameter or body the services do not have fails the build.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths as CommandPaths } from "../api/command";
import type { paths as QueryPaths } from "../api/query";

let tokenSource: () => Promise<string | undefined> = async () => undefined;

/** Where requests get their bearer token. */
export function useTokens(source: () => Promise<string | undefined>) {
  tokenSource = source;
}

const bearer: Middleware = {
  async onRequest({ request }) {
    const t = await tokenSource();
    if (t) request.headers.set("Authorization", `Bearer ${t}`);
    return request;
  },
};

/** Commands (every method but GET): each call carries the Idempotency-Key it is given. */
export const commands = createClient<CommandPaths>({ baseUrl: location.origin });
commands.use(bearer);
/** Queries (GET). */
export const queries = createClient<QueryPaths>({ baseUrl: location.origin });
queries.use(bearer);

/** A new key for one intended change (a retry of the same change reuses it). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

export interface Problem {
  status?: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: { field: string; message: string }[];
}

/** A problem+json answer as one line for a person. */
export function describeProblem(p: unknown): string {
  const problem = (p ?? {}) as Problem;
  const fields = problem.errors?.map((e) => `${e.field}: ${e.message}`).join("; ");
  return [problem.title ?? "Something went wrong", problem.detail, fields].filter(Boolean).join(" — ");
}
