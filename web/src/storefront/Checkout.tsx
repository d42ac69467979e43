import { useEffect, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { commands, describeProblem, idempotencyKey, queries } from "../shared/api";
import { useSession } from "../shared/boot";
import { formatMoney, type Money } from "../shared/money";
import { ErrorText, Field, Loading, useLoad, When } from "../shared/ui";
import { NeedsLogin } from "./App";
import { AddressForm, ProfileForm } from "./Account";

const TEST_CARDS = [
  ["tok_approved", "Test card: approved"],
  ["tok_declined", "Test card: declined"],
  ["tok_flaky", "Test card: fails twice, then approved"],
  ["tok_timeout", "Test card: never answers"],
];

export function Checkout() {
  const { claims } = useSession();
  const navigate = useNavigate();
  const me = useLoad(() => queries.GET("/v1/customers/me", {}), [claims?.sub]);
  const slots = useLoad(() => queries.GET("/v1/delivery-slots", { params: { query: { limit: 100 } } }), []);
  const [slot, setSlot] = useState("");
  const cart = useLoad(() => queries.GET("/v1/carts/current", { params: { query: { slot_id: slot || undefined } } }), [claims?.sub, slot]);
  const [address, setAddress] = useState("");
  const [method, setMethod] = useState<"card" | "cash_on_delivery">("card");
  const [card, setCard] = useState("tok_approved");
  const [changed, setChanged] = useState<Money | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [key] = useState(idempotencyKey);

  useEffect(() => {
    const def = me.data?.addresses.find((a) => a.default) ?? me.data?.addresses[0];
    if (def && !address) setAddress(def.address_id);
  }, [me.data, address]);

  if (!claims) return <NeedsLogin what="the checkout" />;
  if (me.loading && !me.data && !me.status) return <Loading what="your details" />;
  if (me.status === 404) {
    return (
      <>
        <h1>Checkout</h1>
        <p>First, tell us who you are.</p>
        <ProfileForm onDone={() => void me.reload()} />
      </>
    );
  }
  const c = cart.data;
  const firstSlot = slots.data?.items[0];
  if (c && c.lines.length === 0) {
    return (
      <p>
        Your cart is empty. <Link to="/">Back to the shop</Link>
      </p>
    );
  }

  const place = async (expected: Money | null | undefined) => {
    setBusy(true);
    setError(null);
    const { data, error, response } = await commands.POST("/v1/carts/current/checkout", {
      params: { header: { "Idempotency-Key": key } },
      body: {
        address_id: address,
        slot_id: slot,
        payment: method === "card" ? { method: "card", card_token: card } : { method: "cash_on_delivery" },
        expected_total: expected ?? undefined,
      },
    });
    setBusy(false);
    if (data) {
      navigate(`/orders/${data.id}`);
      return;
    }
    const problem = error as { code?: string; total?: Money } | undefined;
    if (response.status === 409 && problem?.code === "price_changed") {
      setChanged(problem.total ?? null);
      await cart.reload();
      return;
    }
    setError(describeProblem(error));
  };

  return (
    <>
      <h1>Checkout</h1>
      <ErrorText error={me.error ?? cart.error ?? slots.error} />
      <section className="panel" aria-labelledby="addr">
        <h2 id="addr">Deliver to</h2>
        {me.data && me.data.addresses.length > 0 ? (
          <fieldset>
            <legend className="muted">Your addresses</legend>
            {me.data.addresses.map((a) => {
              const ad = a.address as { line1: string; city: string; postal_code: string };
              return (
                <label key={a.address_id} className="row">
                  <input type="radio" name="address" value={a.address_id} checked={address === a.address_id} onChange={() => setAddress(a.address_id)} />
                  {a.label}: {ad.line1}, {ad.postal_code} {ad.city}
                </label>
              );
            })}
          </fieldset>
        ) : (
          <p>No address yet: add one.</p>
        )}
        <details>
          <summary>Add an address</summary>
          <AddressForm near={firstSlot?.warehouse_location} onDone={() => void me.reload()} />
        </details>
      </section>
      <section className="panel" aria-labelledby="slot">
        <h2 id="slot">Delivery slot</h2>
        {slots.loading && <Loading what="slots" />}
        <fieldset>
          <legend className="muted">Choose when (places left shown)</legend>
          {slots.data?.items.map((s) => (
            <label key={s.id} className="row">
              <input type="radio" name="slot" value={s.id} checked={slot === s.id} disabled={s.remaining <= 0} onChange={() => setSlot(s.id)} />
              <span>
                {s.zone}: <When at={s.starts_at} /> – {new Date(s.ends_at).toLocaleTimeString()} · {s.remaining} of {s.capacity} left
              </span>
            </label>
          ))}
        </fieldset>
      </section>
      <section className="panel" aria-labelledby="pay">
        <h2 id="pay">Payment</h2>
        <label className="row">
          <input type="radio" name="method" checked={method === "card"} onChange={() => setMethod("card")} /> Card
        </label>
        {method === "card" && (
          <Field label="Card (test mode)">
            <select value={card} onChange={(e) => setCard(e.target.value)}>
              {TEST_CARDS.map(([v, l]) => (
                <option key={v} value={v}>
                  {l}
                </option>
              ))}
            </select>
          </Field>
        )}
        <label className="row">
          <input type="radio" name="method" checked={method === "cash_on_delivery"} onChange={() => setMethod("cash_on_delivery")} /> Cash on delivery
        </label>
      </section>
      {c && c.warnings.length > 0 && (
        <section aria-label="Warnings">
          {c.warnings.map((w, i) => (
            <p key={i} className="warning" role="alert">
              {w.code.replace(/_/g, " ")}: {c.lines.find((l) => l.product_id === w.product_id)?.name}
            </p>
          ))}
        </section>
      )}
      {changed && (
        <p className="warning" role="alert">
          Prices changed since you looked: the total is now {formatMoney(changed)}. Check the cart and place the order again to accept.
        </p>
      )}
      <p className="price">Total: {formatMoney(c?.subtotal)}</p>
      <ErrorText error={error} />
      <button disabled={busy || !address || !slot || !c} onClick={() => void place(changed ?? c?.subtotal)}>
        {busy ? "Placing…" : "Place order"}
      </button>
    </>
  );
}
