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

// Read-your-writes across the session: every command answers the event store's `position` of
// its last event; later queries ask for `min_position`, so a page never shows the state from
// before the person's own change (the query API waits until its read models have passed it).
let position = 0;

const remember: Middleware = {
  async onResponse({ response }) {
    if (response.ok && response.headers.get("content-type")?.includes("json")) {
      try {
        const body = (await response.clone().json()) as { position?: unknown };
        if (typeof body?.position === "number") position = Math.max(position, body.position);
      } catch {
        // not JSON after all: nothing to remember
      }
    }
    return response;
  },
};

/** Whether a query route takes `min_position` (the operators' controls and the keys do not). */
export function waitsForPosition(path: string): boolean {
  return path.startsWith("/v1/") && !/^\/v1\/(ops|audit)\//.test(path);
}

const readYourWrites: Middleware = {
  onRequest({ request }) {
    const url = new URL(request.url);
    if (position > 0 && request.method === "GET" && waitsForPosition(url.pathname) && !url.searchParams.has("min_position")) {
      url.searchParams.set("min_position", String(position));
      return new Request(url, request);
    }
    return request;
  },
};

/** Commands (every method but GET): each call carries the Idempotency-Key it is given. */
export const commands = createClient<CommandPaths>({ baseUrl: location.origin });
commands.use(bearer, remember);
/** Queries (GET); the operators' controls on query-api are POSTs here too. */
export const queries = createClient<QueryPaths>({ baseUrl: location.origin });
queries.use(bearer, readYourWrites);

/** A new key for one intended change (a retry of the same change reuses it). */
export function idempotencyKey(): string {
  return crypto.randomUUID();
}

export interface Problem {
  status?: number;
  code?: string;
  title?: string;
  detail?: string;
  fields?: { field: string; message: string }[];
}

/** A problem+json answer as one line for a person. */
export function describeProblem(p: unknown): string {
  const problem = (p ?? {}) as Problem;
  const fields = problem.fields?.map((e) => `${e.field}: ${e.message}`).join("; ");
  return [problem.title ?? "Something went wrong", problem.detail, fields].filter(Boolean).join(" — ");
}
