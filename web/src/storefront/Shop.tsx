import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { queries } from "../shared/api";
import { formatMoney, parseMajor } from "../shared/money";
import { ErrorText, Field, Loading, useLoad } from "../shared/ui";
import type { components } from "../api/query";

type Product = components["schemas"]["ProductView"];
const CATEGORIES = ["fruit", "vegetable", "herb", "dairy", "bakery", "other"];
const TAGS = ["organic", "seasonal", "local", "imported"];

export function thumbnailOf(p: Product): string | null {
  const img = p.images?.find((i) => i.status === "ready" && i.thumbnail);
  const key = (img?.thumbnail as { key?: string } | null | undefined)?.key;
  return key ? `/media/${key}` : null;
}

export function Shop() {
  const [params, setParams] = useSearchParams();
  const get = (k: string) => params.get(k) ?? "";
  const [form, setForm] = useState({
    q: get("q"),
    category: get("category"),
    tag: get("tag"),
    min: get("min"),
    max: get("max"),
    origin: get("origin"),
    in_stock: params.get("in_stock") === "true",
    days: get("days"),
  });
  const query = {
    q: get("q") || undefined,
    category: get("category") || undefined,
    tag: get("tag") || undefined,
    origin: get("origin") || undefined,
    min_price: get("min") ? (parseMajor(get("min")) ?? undefined) : undefined,
    max_price: get("max") ? (parseMajor(get("max")) ?? undefined) : undefined,
    in_stock: params.get("in_stock") === "true" ? true : undefined,
    min_days_to_expiry: get("days") ? Number(get("days")) : undefined,
    limit: 24,
  };
  const page = useLoad(() => queries.GET("/v1/products", { params: { query } }), [params.toString()]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      if (v === true) next.set(k, "true");
      else if (typeof v === "string" && v.trim()) next.set(k, v.trim());
    }
    setParams(next);
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string; checked?: boolean; type?: string } }) =>
    setForm({ ...form, [k]: e.target.type === "checkbox" ? !!e.target.checked : e.target.value });

  return (
    <>
      <h1>Fresh today</h1>
      <form className="filters panel" role="search" onSubmit={submit} aria-label="Search the catalog">
        <Field label="Search">
          <input type="search" value={form.q} onChange={set("q")} placeholder="strawberries, organic…" />
        </Field>
        <Field label="Category">
          <select value={form.category} onChange={set("category")}>
            <option value="">Any</option>
            {CATEGORIES.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </Field>
        <Field label="Tag">
          <select value={form.tag} onChange={set("tag")}>
            <option value="">Any</option>
            {TAGS.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </Field>
        <Field label="Min price (€)">
          <input inputMode="decimal" size={6} value={form.min} onChange={set("min")} />
        </Field>
        <Field label="Max price (€)">
          <input inputMode="decimal" size={6} value={form.max} onChange={set("max")} />
        </Field>
        <Field label="Origin (country)">
          <input size={4} maxLength={2} value={form.origin} onChange={(e) => setForm({ ...form, origin: e.target.value.toUpperCase() })} placeholder="NL" />
        </Field>
        <Field label="Keeps at least (days)">
          <input type="number" min={0} max={365} size={4} value={form.days} onChange={set("days")} />
        </Field>
        <label className="row">
          <input type="checkbox" checked={form.in_stock} onChange={set("in_stock")} /> In stock only
        </label>
        <button type="submit">Search</button>
      </form>
      {page.loading && <Loading what="products" />}
      <ErrorText error={page.error} />
      {page.data && page.data.items.length === 0 && <p>No product matches. Try fewer filters.</p>}
      <ul className="grid" aria-label="Products">
        {page.data?.items.map((p) => {
          const thumb = thumbnailOf(p);
          return (
            <li key={p.id} className="card">
              {thumb ? <img src={thumb} alt="" /> : <div aria-hidden="true" className="card-img" />}
              <Link to={`/products/${p.id}`}>
                <strong>{p.name}</strong>
              </Link>
              <span className="price">
                {formatMoney(p.price)} <span className="muted">per {p.unit}</span>
              </span>
              <span className="muted">
                {p.category} · from {p.origin_country} · {p.supplier_name ?? "supplier"}
              </span>
              <span>{p.in_stock ? `${p.available} ${p.unit} available` : "Out of stock"}</span>
            </li>
          );
        })}
      </ul>
    </>
  );
}
