// Numbers as the server's own report writes them (records/totals.py `usd`), so the view, the
// text result and the CLI table agree to the digit.

export function usd(amount: number): string {
  if (amount === 0) return "$0";
  if (amount >= 100) return `$${amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const places = Math.max(2, 3 - Math.floor(Math.log10(Math.abs(amount))));
  return `$${amount.toFixed(places)}`;
}

export const tokens = (n: number): string => n.toLocaleString("en-US");

/** Axis ticks: short, e.g. $0.015, 12k. */
export function shortUsd(amount: number): string {
  if (amount === 0) return "$0";
  if (amount >= 1000) return `$${(amount / 1000).toLocaleString("en-US", { maximumFractionDigits: 1 })}k`;
  return `$${Number(amount.toPrecision(2))}`;
}

export function shortTokens(n: number): string {
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(3))}M`;
  if (n >= 1e3) return `${Number((n / 1e3).toPrecision(3))}k`;
  return String(n);
}

export const plural = (n: number, one: string, many = `${one}s`): string => `${tokens(n)} ${n === 1 ? one : many}`;

/** 2026-12-02T06:24:31Z → 2026-12-02 06:24; midnight → the date alone. */
export function when(iso: string): string {
  const match = /^(\d{4}-\d\d-\d\d)(?:T(\d\d:\d\d))?/.exec(iso);
  if (!match) return iso;
  return match[2] && match[2] !== "00:00" ? `${match[1]} ${match[2]}` : match[1];
}
