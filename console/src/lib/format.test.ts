import { describe, expect, it } from "vitest";
import { formatDate, formatMoney, lines, moneyInput, parseMoney } from "./format";

describe("money input", () => {
  it.each([
    ["19", "usd", 1900],
    ["19.9", "usd", 1990],
    ["19.90", "usd", 1990],
    ["0", "usd", 0],
    ["1,5", "eur", 150],
    ["500", "jpy", 500],
  ])("reads %s %s as %i minor units", (text, currency, minor) => {
    expect(parseMoney(text, currency)).toBe(minor);
  });

  it.each([
    ["", "usd"],
    ["-1", "usd"],
    ["1.999", "usd"],
    ["abc", "usd"],
    ["1.5", "jpy"],
    ["1e3", "usd"],
  ])("refuses %j in %s", (text, currency) => {
    expect(parseMoney(text, currency)).toBeNull();
  });

  it("round-trips minor units through the edit form", () => {
    for (const minor of [0, 5, 1900, 123456]) expect(parseMoney(moneyInput(minor, "usd"), "usd")).toBe(minor);
    expect(moneyInput(500, "jpy")).toBe("500");
  });
});

describe("display", () => {
  it("shows minor units in the currency's unit", () => {
    expect(formatMoney(1900, "usd")).toBe("$19.00");
    expect(formatMoney(500, "jpy")).toBe("¥500");
  });

  it("shows dates in UTC to the minute, and a dash for none", () => {
    expect(formatDate(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe("2026-01-02 03:04 UTC");
    expect(formatDate(null)).toBe("—");
  });

  it("splits a textarea into its non-blank lines", () => {
    expect(lines(" a \n\n b\n")).toEqual(["a", "b"]);
  });
});
