//! Money, dates and form values as the console shows and reads them. Money stays integer
//! minor units end to end; only display divides.

/** Currencies whose minor unit is the unit itself (Stripe's zero-decimal list, the common ones). */
const ZERO_DECIMAL = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]);

export function decimalsOf(currency: string): number {
  return ZERO_DECIMAL.has(currency.toLowerCase()) ? 0 : 2;
}

export function formatMoney(amount: number, currency: string): string {
  const decimals = decimalsOf(currency);
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase(), minimumFractionDigits: decimals, maximumFractionDigits: decimals }).format(amount / 10 ** decimals);
  } catch {
    return `${(amount / 10 ** decimals).toFixed(decimals)} ${currency.toUpperCase()}`;
  }
}

/**
 * Reads "19", "19.9" or "19.90" as minor units (1990) without floating point; null when the
 * text is not a non-negative amount with at most the currency's decimals.
 */
export function parseMoney(text: string, currency: string): number | null {
  const decimals = decimalsOf(currency);
  const m = /^\s*(\d{1,9})(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const frac = m[2] ?? "";
  if (frac.length > decimals) return null;
  return Number(m[1]) * 10 ** decimals + (decimals ? Number(frac.padEnd(decimals, "0")) : 0);
}

/** The inverse of parseMoney, for filling an edit form. */
export function moneyInput(amount: number, currency: string): string {
  const decimals = decimalsOf(currency);
  if (!decimals) return String(amount);
  return `${Math.floor(amount / 10 ** decimals)}.${String(amount % 10 ** decimals).padStart(decimals, "0")}`;
}

export function formatDate(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function formatCount(n: number): string {
  return new Intl.NumberFormat("en").format(n);
}

/** Lines of a textarea as a list, blank lines dropped. */
export function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
