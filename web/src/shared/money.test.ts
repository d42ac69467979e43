import { describe, expect, it } from "vitest";
import { formatMoney, parseMajor } from "./money";

describe("money", () => {
  it("formats minor units in the currency", () => {
    expect(formatMoney({ amount_minor: 1299, currency: "EUR" }, "en-IE")).toBe("€12.99");
    expect(formatMoney(null)).toBe("—");
  });
  it("parses prices typed in major units exactly", () => {
    expect(parseMajor("12.5")).toBe(1250);
    expect(parseMajor("0,99")).toBe(99);
    expect(parseMajor("3")).toBe(300);
    expect(parseMajor("1.999")).toBeNull();
    expect(parseMajor("-1")).toBeNull();
    expect(parseMajor("")).toBeNull();
  });
});
