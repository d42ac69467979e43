// Money as the API carries it: integer minor units and an ISO currency.
export interface Money {
  amount_minor: number;
  currency: string;
}

/** "€12.99"-style text, in the browser's locale. */
export function formatMoney(m: Money | null | undefined, locale?: string): string {
  if (!m) return "—";
  return new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(
    m.amount_minor / 100,
  );
}

/** Minor units from a price typed in major units ("12.5" → 1250); null when not a price. */
export function parseMajor(text: string): number | null {
  const t = text.trim().replace(",", ".");
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
  const [whole, frac = ""] = t.split(".");
  return Number(whole) * 100 + Number(frac.padEnd(2, "0"));
}
