// A customer, in a real browser against the whole stack: signs up on Keycloak's own form,
// searches, fills a cart, checks out with the test card `tok_approved`, and watches the order
// reach `delivered` live (server-sent events through the gateway).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { UI, productInStock, scenario, shoot } from "./helpers.mjs";

test("a customer signs up, searches, fills a cart, checks out and watches the order delivered live", { timeout: 240_000 }, async () => {
  const run = randomUUID().slice(0, 8);
  const name = `Zeeland strawberries ${run}`;
  await productInStock(name, 450, true);
  await scenario("storefront", async (newPage) => {
    const page = await newPage();
    const t0 = Date.now();
    await page.goto(UI());
    await page.getByRole("heading", { name: "Fresh today" }).waitFor();
    console.log(`storefront first load (gateway, cold cache): ${Date.now() - t0} ms`);
    await page.getByRole("list", { name: "Products" }).waitFor();
    await shoot(page, "storefront-shop");

    // Sign up on Keycloak's registration form; back in the shop, logged in.
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForSelector("#kc-register-form");
    await shoot(page, "keycloak-register");
    await page.fill("#username", `ui-${run}`);
    await page.fill("#email", `ui-${run}@customer.example`);
    await page.fill("#firstName", "Ada");
    await page.fill("#lastName", "Tester");
    await page.fill("#password", "ui-test-pass-1");
    await page.fill("#password-confirm", "ui-test-pass-1");
    await page.locator("#kc-register-form [type=submit]").click();
    await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: 30_000 });

    // Search with filters.
    await page.getByLabel("Search", { exact: true }).fill(`strawberries ${run}`);
    await page.getByLabel("Category").selectOption("fruit");
    await page.getByLabel("In stock only").check();
    await page.getByLabel("Keeps at least (days)").fill("5");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name }).click();
    await page.getByRole("heading", { name }).waitFor();
    await page.getByText("Nutrition (per 100 g)").waitFor();
    // The photo, as its rendition served by the gateway, loaded.
    const photo = page.getByRole("img", { name: `${name}, photo` });
    await photo.waitFor();
    assert.ok(await photo.evaluate((img) => img.complete && img.naturalWidth > 0), "the rendition did not load");
    await shoot(page, "storefront-product");

    await page.getByLabel("Quantity (kg)").fill("1.5");
    await page.getByRole("button", { name: "Add to cart" }).click();
    await page.getByText("Added.").waitFor();
    await page.getByRole("link", { name: "View the cart" }).click();
    await page.getByRole("heading", { name: "Your cart" }).waitFor();
    await page.getByText("Subtotal: €6.75").waitFor();
    await shoot(page, "storefront-cart");

    // Checkout: a profile, an address, a slot, the approving test card.
    await page.getByRole("link", { name: "Go to checkout" }).click();
    await page.getByRole("button", { name: "Save profile" }).waitFor();
    await page.getByLabel("Name").fill("Ada Tester");
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Add an address").click();
    await page.getByLabel("Street and number").fill("Prinsengracht 263");
    await page.getByLabel("Postal code").fill("1016 GV");
    await page.getByLabel("City").fill("Amsterdam");
    await page.getByRole("button", { name: "Save address" }).click();
    await page.getByRole("radio", { name: /Home: Prinsengracht 263/ }).waitFor();
    await page.locator("input[name=slot]:not([disabled])").first().check();
    await page.getByLabel("Card (test mode)").selectOption("tok_approved");
    await page.getByText("Total: €6.75").waitFor();
    await shoot(page, "storefront-checkout");
    await page.getByRole("button", { name: "Place order" }).click();

    // The order, live: paid, packed, on its way (the rider on the map), delivered.
    await page.getByText("Live: updates appear as they happen.").waitFor({ timeout: 30_000 });
    await page.locator("h1 .badge", { hasText: "delivered" }).waitFor({ timeout: 150_000 });
    await page.getByText("Order delivered").waitFor();
    await page.getByTestId("rider").waitFor();
    await shoot(page, "storefront-order-delivered");

    await page.getByRole("link", { name: "Your orders" }).click();
    await page.getByRole("link", { name: /Track order/ }).first().waitFor();
    await shoot(page, "storefront-orders");
    await page.getByRole("link", { name: "Account" }).click();
    await page.getByRole("heading", { name: "Preferences" }).waitFor();
    await page.getByLabel("Language of messages").selectOption("nl");
    await page.getByRole("button", { name: "Save preferences" }).click();
    await page.getByText("Preferences saved.").waitFor();
    await page.getByLabel("SMS").check();
    await page.getByRole("button", { name: "Save consent" }).click();
    await page.getByText("Consent saved.").waitFor();
    await shoot(page, "storefront-account");

    // The API docs, rendered locally.
    await page.goto(`${UI()}/docs/`);
    await page.getByText("Freshline command API").first().waitFor({ timeout: 30_000 });
    await shoot(page, "docs");
    assert.ok(true);
  });
});
