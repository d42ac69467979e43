// Starting an app: its configuration, the login session, the API clients' tokens.
import { StrictMode, createContext, useContext, useSyncExternalStore, type ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { Session, loadConfig } from "./session";
import { useTokens } from "./api";
import { claimsOf, type Claims } from "./roles";
import "./style.css";

const SessionContext = createContext<Session | null>(null);

export async function boot(clientId: string, basePath: string, app: ReactNode) {
  const session = new Session(await loadConfig(), clientId, basePath);
  useTokens(() => session.token());
  try {
    await session.start();
  } catch (e) {
    console.error("login could not be completed", e);
  }
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <SessionContext.Provider value={session}>{app}</SessionContext.Provider>
    </StrictMode>,
  );
}

export function useSession(): { session: Session; claims: Claims | null } {
  const session = useContext(SessionContext)!;
  const user = useSyncExternalStore(
    (l) => session.subscribe(l),
    () => session.current(),
  );
  return { session, claims: claimsOf(user?.access_token) };
}
