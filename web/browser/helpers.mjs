// What the browser tests share: Chromium driven by playwright-core, axe-core's checks, the
// screenshots, Keycloak's login pages (with a TOTP computed from the demo admin's secret) and
// the API calls that set a scene. Everything comes from ../../infra/local/ui-test.sh's
// environment.
import { chromium } from "playwright-core";
import { createHmac, randomUUID } from "node:crypto";
import { deflateSync } from "node:zlib";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run the browser tests through infra/local/ui-test.sh`);
  return v;
};
export const UI = () => env("FRESHLINE_UI_URL");
const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

export async function browser() {
  return chromium.launch({
    executablePath: env("FRESHLINE_UI_CHROMIUM"),
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** A fresh browser context (own cookies and storage); axe is injected despite the CSP. */
export async function context(b) {
  return b.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 }, locale: "en-GB" });
}

/**
 * Runs a browser scenario; on failure, the page as it was goes to
 * bench/results/ui/FAILED-<name>.png with the browser console's errors in the message.
 */
export async function scenario(name, body) {
  const b = await browser();
  const pages = [];
  const logs = [];
  const newPage = async () => {
    const page = await (await context(b)).newPage();
    page.on("console", (m) => m.type() === "error" && logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(String(e)));
    pages.push(page);
    return page;
  };
  try {
    await body(newPage);
  } catch (e) {
    const dir = env("FRESHLINE_UI_SCREENSHOTS");
    mkdirSync(dir, { recursive: true });
    for (const [i, p] of pages.entries()) {
      await p.screenshot({ path: `${dir}/FAILED-${name}-${i}.png`, fullPage: true }).catch(() => {});
    }
    e.message += `\nbrowser console: ${logs.join("\n") || "(nothing)"}; pages at ${pages.map((p) => p.url()).join(", ")}`;
    throw e;
  } finally {
    await b.close();
  }
}

/** axe-core on the page as it is: no serious or critical violation. */
export async function accessible(page, name) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "best-practice"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: axe found ${JSON.stringify(bad, null, 2)}`);
  return result;
}

/** A full-page screenshot under bench/results/ui/, and an accessibility check of the page. */
export async function shoot(page, name) {
  const dir = env("FRESHLINE_UI_SCREENSHOTS");
  mkdirSync(dir, { recursive: true });
  await accessible(page, name);
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}

let lastCounter = 0;
/** RFC 6238 TOTP (SHA-1, 30 s, 6 digits) of a raw secret; never the same time step twice. */
export async function totp(secret) {
  let counter = Math.floor(Date.now() / 30000);
  if (counter <= lastCounter) {
    await new Promise((r) => setTimeout(r, (lastCounter + 1) * 30000 - Date.now() + 200));
    counter = lastCounter + 1;
  }
  lastCounter = counter;
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(counter));
  const h = createHmac("sha1", Buffer.from(secret, "utf8")).update(buf).digest();
  const o = h[h.length - 1] & 0x0f;
  const bin = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(bin % 1_000_000).padStart(6, "0");
}

/** On Keycloak's login page: username and password, then the one-time code when asked. */
export async function keycloakLogin(page, username, password, otpSecret) {
  await page.waitForSelector("#username");
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#kc-login");
  if (otpSecret) {
    await page.waitForSelector("#otp");
    await page.fill("#otp", await totp(otpSecret));
    await page.click("#kc-login");
  }
}

/** A command straight to command-api (setting a scene), with its own Idempotency-Key. */
export async function command(method, path, token, body) {
  const r = await fetch(`${env("FRESHLINE_UI_API")}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": randomUUID() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

export async function query(path, token) {
  const r = await fetch(`${env("FRESHLINE_UI_QUERY")}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Polls `check` until it returns something truthy. */
export async function until(what, secs, check) {
  const deadline = Date.now() + secs * 1000;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${secs} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const WAREHOUSES = [
  "01931b70-0000-7000-8000-00000000a001",
  "01931b70-0000-7000-8000-00000000a002",
  "01931b70-0000-7000-8000-00000000a003",
];

/** A supplier registered (pending) with a business licence, owned by the setup supplier. */
export async function pendingSupplier(name) {
  const s = await command("POST", "/v1/suppliers", env("FRESHLINE_UI_SUPPLIER_TOKEN"), {
    legal_name: name,
    registration_number: `UI-${randomUUID().slice(0, 8)}`,
    contact_email: "ops@ui-test.example",
    phone: "+31205550199",
    categories: ["fruit"],
    address: { line1: "Teststraat 1", city: "Utrecht", postal_code: "3511 AA", country: "NL" },
  });
  await command("POST", `/v1/suppliers/${s.id}/documents`, env("FRESHLINE_UI_SUPPLIER_TOKEN"), {
    kind: "business_license",
    reference: "KVK-UI",
    expires_on: "2031-01-01",
  });
  return s.id;
}

/** A small PNG photo (a green gradient), made here: no fixture files. */
export function png(width = 64, height = 48) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set([40 + x, 120 + y, 60], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** An approved supplier's product with stock in every demo warehouse (and, with `photo`, an
 *  image processed into its renditions). */
export async function productInStock(name, priceMinor, photo = false) {
  const supplier = await pendingSupplier(`${name} Growers B.V.`);
  await command("POST", `/v1/suppliers/${supplier}/approve`, env("FRESHLINE_UI_ADMIN_TOKEN"), { note: "ui test" });
  const p = await command("POST", `/v1/suppliers/${supplier}/products`, env("FRESHLINE_UI_SUPPLIER_TOKEN"), {
    name,
    category: "fruit",
    tags: ["organic", "local"],
    unit: "kg",
    price: { amount_minor: priceMinor, currency: "EUR" },
    origin_country: "NL",
    nutrition: { energy_kcal: 32, protein_g: 0.7, carbs_g: 7.7, fat_g: 0.3, fiber_g: 2 },
  });
  const now = new Date();
  for (const w of WAREHOUSES) {
    await command("POST", "/v1/inventory/batches", env("FRESHLINE_UI_WAREHOUSE_TOKEN"), {
      product_id: p.id,
      supplier_id: supplier,
      warehouse_id: w,
      quantity: 50,
      received_at: new Date(now.getTime() - 3600_000).toISOString(),
      expires_at: new Date(now.getTime() + 10 * 86400_000).toISOString(),
      cold_chain: false,
      procurement_price: { amount_minor: Math.floor(priceMinor / 2), currency: "EUR" },
    });
  }
  if (photo) {
    const r = await fetch(`${env("FRESHLINE_UI_API")}/v1/products/${p.id}/images`, {
      method: "POST",
      headers: { authorization: `Bearer ${env("FRESHLINE_UI_SUPPLIER_TOKEN")}`, "content-type": "image/png", "idempotency-key": randomUUID() },
      body: png(),
    });
    assert.equal(r.status, 202, await r.text());
  }
  await until(`${name} in the catalog`, 60, async () => {
    const r = await query(`/v1/products/${p.id}`, env("FRESHLINE_UI_CUSTOMER_TOKEN"));
    return r.status === 200 && r.body.in_stock && (!photo || r.body.images?.some((i) => i.status === "ready"));
  });
  return { product: p.id, supplier };
}
