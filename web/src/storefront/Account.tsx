import { useState, type FormEvent } from "react";
import { commands, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { ErrorText, Field, Loading, useAction, useLoad } from "../shared/ui";
import { NeedsLogin } from "./App";
import type { components } from "../api/query";

type GeoPoint = components["schemas"]["GeoPoint"];
const TAGS = ["organic", "seasonal", "local", "imported"] as const;

export function ProfileForm({ onDone }: { onDone: () => void }) {
  const { claims } = useSession();
  const c = claims as { name?: string; email?: string } | null;
  const [form, setForm] = useState({ display_name: c?.name ?? "", email: c?.email ?? "", phone: "" });
  const action = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await action.run(() =>
      commands.POST("/v1/customers/me", {
        params: { header: { "Idempotency-Key": idempotencyKey() } },
        body: { display_name: form.display_name, email: form.email, phone: form.phone || undefined },
      }),
    );
    if (ok) onDone();
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Your profile">
      <Field label="Name">
        <input required value={form.display_name} onChange={(e) => setForm({ ...form, display_name: e.target.value })} />
      </Field>
      <Field label="E-mail">
        <input required type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
      </Field>
      <Field label="Phone (optional, for SMS)" hint="International form, e.g. +31612345678">
        <input type="tel" value={form.phone} onChange={(e) => setForm({ ...form, phone: e.target.value })} />
      </Field>
      <ErrorText error={action.error} />
      <button disabled={action.busy}>Save profile</button>
    </form>
  );
}

export function AddressForm({ near, onDone }: { near?: GeoPoint; onDone: () => void }) {
  const [form, setForm] = useState({
    label: "Home",
    line1: "",
    city: "",
    postal_code: "",
    country: "NL",
    lat: near ? String(near.lat_e6 / 1e6 + 0.01) : "52.37",
    lon: near ? String(near.lon_e6 / 1e6 + 0.01) : "4.89",
    default: true,
  });
  const action = useAction();
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await action.run(() =>
      commands.POST("/v1/customers/me/addresses", {
        params: { header: { "Idempotency-Key": idempotencyKey() } },
        body: {
          label: form.label,
          default: form.default,
          address: {
            line1: form.line1,
            city: form.city,
            postal_code: form.postal_code,
            country: form.country,
            location: { lat: Number(form.lat), lon: Number(form.lon) },
          },
        },
      }),
    );
    if (ok) onDone();
  };
  return (
    <form onSubmit={submit} aria-label="New address">
      <div className="row">
        <Field label="Label">
          <input required value={form.label} onChange={set("label")} />
        </Field>
        <Field label="Street and number">
          <input required value={form.line1} onChange={set("line1")} />
        </Field>
        <Field label="Postal code">
          <input required value={form.postal_code} onChange={set("postal_code")} size={8} />
        </Field>
        <Field label="City">
          <input required value={form.city} onChange={set("city")} />
        </Field>
        <Field label="Country">
          <input required value={form.country} onChange={set("country")} size={3} maxLength={2} />
        </Field>
        <Field label="Latitude">
          <input required inputMode="decimal" value={form.lat} onChange={set("lat")} size={9} />
        </Field>
        <Field label="Longitude">
          <input required inputMode="decimal" value={form.lon} onChange={set("lon")} size={9} />
        </Field>
      </div>
      <ErrorText error={action.error} />
      <button disabled={action.busy}>Save address</button>
    </form>
  );
}

export function Account() {
  const { claims } = useSession();
  const me = useLoad(() => queries.GET("/v1/customers/me", {}), [claims?.sub]);
  const prefs = useAction();
  const consent = useAction();
  const [saved, setSaved] = useState("");
  if (!claims) return <NeedsLogin what="your account" />;
  if (me.loading && !me.data && !me.status) return <Loading what="your account" />;
  if (me.status === 404) {
    return (
      <>
        <h1>Your account</h1>
        <ProfileForm onDone={() => void me.reload()} />
      </>
    );
  }
  const c = me.data;
  if (!c) return <ErrorText error={me.error} />;
  const p = c.preferences as { tags?: string[]; dietary?: string | null; language?: string };
  const k = c.consent as { marketing?: boolean; channels?: { email?: boolean; sms?: boolean; push?: boolean } };

  const savePrefs = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const ok = await prefs.run(() =>
      commands.PUT("/v1/customers/me/preferences", {
        params: { header: { "Idempotency-Key": idempotencyKey() } },
        body: { tags: f.getAll("tags") as string[], dietary: (f.get("dietary") as string) || undefined, language: f.get("language") as string },
      }),
    );
    if (ok) setSaved("Preferences saved.");
  };
  const saveConsent = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const ok = await consent.run(() =>
      commands.PUT("/v1/customers/me/consent", {
        params: { header: { "Idempotency-Key": idempotencyKey() } },
        body: { marketing: f.has("marketing"), channels: { email: f.has("email"), sms: f.has("sms"), push: f.has("push") } },
      }),
    );
    if (ok) setSaved("Consent saved.");
  };

  return (
    <>
      <h1>Your account</h1>
      <p role="status" className="ok">
        {saved}
      </p>
      <section className="panel">
        <h2>Profile</h2>
        <p>
          {c.display_name} · {c.email}
          {c.phone && ` · ${c.phone}`}
        </p>
      </section>
      <section className="panel">
        <h2>Addresses</h2>
        <ul>
          {c.addresses.map((a) => {
            const ad = a.address as { line1: string; city: string; postal_code: string };
            return (
              <li key={a.address_id}>
                {a.label}: {ad.line1}, {ad.postal_code} {ad.city} {a.default && <strong>(default)</strong>}
              </li>
            );
          })}
        </ul>
        <details>
          <summary>Add an address</summary>
          <AddressForm onDone={() => void me.reload()} />
        </details>
      </section>
      <form className="panel" onSubmit={savePrefs} aria-labelledby="prefs">
        <h2 id="prefs">Preferences</h2>
        <fieldset>
          <legend>Favourite kinds of food</legend>
          {TAGS.map((t) => (
            <label key={t} className="row">
              <input type="checkbox" name="tags" value={t} defaultChecked={p.tags?.includes(t)} /> {t}
            </label>
          ))}
        </fieldset>
        <Field label="Dietary notes">
          <textarea name="dietary" defaultValue={p.dietary ?? ""} rows={2} />
        </Field>
        <Field label="Language of messages">
          <select name="language" defaultValue={p.language ?? "en"}>
            <option value="en">English</option>
            <option value="nl">Nederlands</option>
          </select>
        </Field>
        <ErrorText error={prefs.error} />
        <button disabled={prefs.busy}>Save preferences</button>
      </form>
      <form className="panel" onSubmit={saveConsent} aria-labelledby="consent">
        <h2 id="consent">Messages we may send you</h2>
        <label className="row">
          <input type="checkbox" name="email" defaultChecked={k.channels?.email ?? true} /> E-mail
        </label>
        <label className="row">
          <input type="checkbox" name="sms" defaultChecked={k.channels?.sms ?? false} /> SMS
        </label>
        <label className="row">
          <input type="checkbox" name="push" defaultChecked={k.channels?.push ?? false} /> Push notifications
        </label>
        <label className="row">
          <input type="checkbox" name="marketing" defaultChecked={k.marketing ?? false} /> Offers and reminders (marketing)
        </label>
        <ErrorText error={consent.error} />
        <button disabled={consent.busy}>Save consent</button>
      </form>
    </>
  );
}
