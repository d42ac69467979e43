// The operations console in a real browser: an admin logs in with a one-time code, approves a
// supplier and sees the event in its history with the chain verified; an operator retries a
// stuck saga; an auditor sees everything and cannot press a button that changes anything.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { UI, command, env, keycloakLogin, pendingSupplier, productInStock, query, scenario, shoot, until } from "./helpers.mjs";

const ADMIN_TOTP_SECRET = "FreshlineDemoOtpKey1";

async function adminPage(newPage) {
  const page = await newPage();
  const t0 = Date.now();
  await page.goto(`${UI()}/ops/`);
  await page.getByRole("button", { name: "Log in" }).first().waitFor();
  console.log(`console first load (gateway, cold cache): ${Date.now() - t0} ms`);
  await shoot(page, "console-login");
  await page.getByRole("button", { name: "Log in" }).first().click();
  await keycloakLogin(page, "admin", "admin-pass", ADMIN_TOTP_SECRET);
  await page.getByRole("heading", { name: "What needs attention" }).waitFor({ timeout: 30_000 });
  return page;
}

test("an admin with a one-time code approves a supplier and sees it in the verified history", { timeout: 180_000 }, async () => {
  const name = `Review Farm ${randomUUID().slice(0, 8)} B.V.`;
  const id = await pendingSupplier(name);
  await scenario("approve", async (newPage) => {
    const page = await adminPage(newPage);
    // The live picture lists it among those waiting for review.
    await page.getByRole("link", { name }).waitFor({ timeout: 30_000 });
    await shoot(page, "console-overview");
    await page.getByRole("link", { name: "Suppliers", exact: true }).click();
    await page.getByRole("link", { name }).click();
    await page.getByTestId("chain-verified").waitFor();
    await shoot(page, "console-supplier-pending");
    await page.getByLabel("Reason or note").fill("documents checked in the browser test");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.locator("h1 .badge", { hasText: "approved" }).waitFor({ timeout: 30_000 });
    const row = page.getByRole("row", { name: /SupplierApproved/ });
    await row.waitFor();
    assert.match(await row.innerText(), /documents checked in the browser test/);
    await page.getByTestId("chain-verified").waitFor();
    assert.match(await page.getByTestId("chain-verified").innerText(), /3 events/);
    await shoot(page, "console-supplier-approved");
    const r = await query(`/v1/suppliers/${id}`, env("FRESHLINE_UI_ADMIN_TOKEN"));
    assert.equal(r.body.status, "approved");

    // The other screens render for an admin, with their controls.
    await page.getByRole("link", { name: "Inventory" }).click();
    await page.getByRole("heading", { name: "Batches expiring within 48 hours" }).waitFor();
    await shoot(page, "console-inventory");
    await page.getByRole("link", { name: "Orders" }).click();
    await page.getByText("Live: changed orders move to the top.").waitFor({ timeout: 30_000 });
    await shoot(page, "console-orders");
  });
});

test("an operator retries a stuck saga and the order goes on", { timeout: 180_000 }, async () => {
  const { product } = await productInStock(`Stuck pears ${randomUUID().slice(0, 8)}`, 300);
  const slots = await query("/v1/delivery-slots?limit=100", env("FRESHLINE_UI_CUSTOMER_TOKEN"));
  const slot = slots.body.items.find((s) => s.remaining > 0);
  const gateway = Number(env("FRESHLINE_UI_CARD_GATEWAY_PID"));
  // The card gateway freezes: the payment step times out again and again.
  process.kill(gateway, "SIGSTOP");
  try {
    const order = await command("POST", "/v1/orders", env("FRESHLINE_UI_CUSTOMER_TOKEN"), {
      lines: [{ product_id: product, quantity: 1 }],
      delivery: {
        slot_id: slot.id,
        contact_email: "stuck@customer.example",
        address: { line1: "Damrak 1", city: "Amsterdam", postal_code: "1012 LG", country: "NL", location: { lat: 52.376, lon: 4.897 } },
      },
      payment: { method: "card", card_token: "tok_approved" },
    });
    await until("the saga to be stuck", 90, async () => {
      const r = await query("/v1/ops/sagas?status=stuck", env("FRESHLINE_UI_ADMIN_TOKEN"));
      return r.body?.items?.some((s) => s.order_id === order.id);
    });
    await scenario("retry", async (newPage) => {
      const page = await adminPage(newPage);
      await page.getByRole("link", { name: "Sagas and dead events" }).click();
      const row = page.getByRole("row", { name: new RegExp(order.id.slice(0, 8)) });
      await row.waitFor();
      await shoot(page, "console-sagas-stuck");
      // The gateway is back; the operator does not wait for the saga's back-off.
      process.kill(gateway, "SIGCONT");
      await row.getByRole("button", { name: "Retry" }).click();
      await page.getByText(`Saga ${order.id.slice(0, 8)} runs again.`).waitFor();
      await until("the order to be paid", 60, async () => {
        const r = await query(`/v1/orders/${order.id}`, env("FRESHLINE_UI_ADMIN_TOKEN"));
        return r.body && r.body.status !== "created";
      });
      // No longer stuck, it has left the list; its page shows it paid.
      await page.goto(`${UI()}/ops/orders/${order.id}`);
      await page.getByText("Order paid").waitFor({ timeout: 30_000 });
      await shoot(page, "console-order-detail");
    });
  } finally {
    process.kill(gateway, "SIGCONT");
  }
});

test("an auditor sees every screen and no control that changes anything", { timeout: 120_000 }, async () => {
  const id = await pendingSupplier(`Audit Farm ${randomUUID().slice(0, 8)} B.V.`);
  await scenario("auditor", async (newPage) => {
    const page = await newPage();
    await page.goto(`${UI()}/ops/`);
    await page.getByRole("button", { name: "Log in" }).first().click();
    await keycloakLogin(page, "auditor", "auditor-pass");
    await page.getByRole("heading", { name: "What needs attention" }).waitFor({ timeout: 30_000 });
    await page.getByText("read-only").waitFor();
    const changing = /approve|reject|suspend|reinstate|retry|skip|cancel|compensat/i;
    const screens = [
      [`/ops/suppliers/${id}`, "History"],
      ["/ops/sagas", "Dead events"],
      ["/ops/inventory", "Inventory"],
      ["/ops/orders", "Orders"],
    ];
    for (const [path, heading] of screens) {
      await page.goto(`${UI()}${path}`);
      await page.getByRole("heading", { name: heading, exact: true }).waitFor({ timeout: 30_000 });
      const buttons = await page.getByRole("button").allInnerTexts();
      const offending = buttons.filter((t) => changing.test(t));
      assert.deepEqual(offending, [], `${path}: an auditor is offered ${offending}`);
    }
    await page.goto(`${UI()}/ops/suppliers/${id}`);
    await page.getByTestId("chain-verified").waitFor();
    await shoot(page, "console-auditor-supplier");
  });
});
