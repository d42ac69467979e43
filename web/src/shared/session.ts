// Logging in through Keycloak (authorization code + PKCE, refresh tokens) with oidc-client-ts.
// The identity provider's address comes from /config.json, written by the scripts that serve
// the apps; without it, Keycloak on this host's port 8180.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";

export interface AppConfig {
  issuer: string;
}

export async function loadConfig(): Promise<AppConfig> {
  try {
    const r = await fetch("/config.json", { cache: "no-store" });
    if (r.ok) return (await r.json()) as AppConfig;
  } catch {
    // fall through
  }
  return { issuer: `${location.protocol}//${location.hostname}:8180/realms/freshline` };
}

export class Session {
  readonly manager: UserManager;
  private user: User | null = null;
  private listeners = new Set<() => void>();

  constructor(config: AppConfig, clientId: string, basePath: string) {
    const base = `${location.origin}${basePath}`;
    this.manager = new UserManager({
      authority: config.issuer,
      client_id: clientId,
      redirect_uri: `${base}callback`,
      post_logout_redirect_uri: base,
      response_type: "code",
      scope: "openid profile email",
      automaticSilentRenew: true,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
    this.manager.events.addUserLoaded((u) => this.set(u));
    this.manager.events.addUserUnloaded(() => this.set(null));
    this.manager.events.addSilentRenewError(() => this.set(null));
  }

  /** Finishes a login redirect when there is one; otherwise loads the stored user. */
  async start(): Promise<void> {
    if (location.pathname.endsWith("/callback") && location.search.includes("code=")) {
      const u = await this.manager.signinRedirectCallback();
      const back = (u.state as string | undefined) ?? "";
      history.replaceState(null, "", back || location.pathname.replace(/callback$/, ""));
      this.set(u);
      return;
    }
    this.set(await this.manager.getUser());
  }

  private set(u: User | null) {
    this.user = u && !u.expired ? u : u;
    this.listeners.forEach((l) => l());
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  current(): User | null {
    return this.user;
  }

  /** A fresh access token (refreshed when it is about to expire), or none. */
  async token(): Promise<string | undefined> {
    const u = this.user;
    if (!u) return undefined;
    if ((u.expires_in ?? 0) < 20) {
      try {
        const renewed = await this.manager.signinSilent();
        this.set(renewed);
        return renewed?.access_token;
      } catch {
        this.set(null);
        return undefined;
      }
    }
    return u.access_token;
  }

  login(returnTo = location.pathname + location.search) {
    return this.manager.signinRedirect({ state: returnTo });
  }

  signUp(returnTo = location.pathname + location.search) {
    return this.manager.signinRedirect({ state: returnTo, prompt: "create" });
  }

  logout() {
    return this.manager.signoutRedirect();
  }
}
