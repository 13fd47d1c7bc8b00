//! The metered feature itself: product names made from a short description. Deliberately
//! simple; what the example shows is the metering around it.

const ENDINGS = ["ly", "ify", "hub", "kit", "base", "io", "wise", "loop", "stack", "nest"];
const STARTS = ["Bright", "Swift", "Clear", "Quiet", "Bold", "True", "North", "Open"];

const pick = <T,>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** A name for a product described by `idea`: one of its words with an ending, or a stock start. */
export function nameFor(idea: string): string {
  const words = idea.toLowerCase().match(/[a-z]{4,}/g) ?? [];
  const root = words.length > 0 ? pick(words) : undefined;
  const stem = root ? root.charAt(0).toUpperCase() + root.slice(1, 7) : pick(STARTS);
  return `${stem}${pick(ENDINGS)}`;
}
