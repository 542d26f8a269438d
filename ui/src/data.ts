// What the dashboard draws, from either tool's structured result: the usage ledger's report
// (`usage_report`: rows already grouped by the server) or a batch of records (`get_generations`:
// grouped here by UTC day and model, as the ledger would group them).

export const TOKEN_FIELDS = [
  "prompt_tokens",
  "completion_tokens",
  "cache_read_input_tokens",
  "cache_creation_input_tokens",
  "total_tokens",
] as const;
export type TokenField = (typeof TOKEN_FIELDS)[number];

export interface Sums {
  generations: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  estimated_cost_usd: number | null;
  unpriced: number;
}

export type Key = "day" | "model" | "endpoint";

/** One group of records: its keys (those the data has) and its sums. */
export interface Entry {
  day?: string;
  model?: string;
  endpoint?: string;
  sums: Sums;
}

export type ToolName = "usage_report" | "get_generations";

export interface Dashboard {
  tool: ToolName;
  entries: Entry[];
  totals: Sums;
  /** The keys the entries carry, in the order the x axis may use them. */
  keys: Key[];
  since?: string;
  until?: string;
  moreRows: number;
  ledgerOff: boolean;
  /** get_generations: ids looked up and how many had no record. */
  lookedUp?: { ids: number; found: number; missing: number };
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const count = (value: unknown): number =>
  typeof value === "number" && Number.isInteger(value) ? value : 0;

const money = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;

const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

function sumsOf(source: Json): Sums {
  return {
    generations: count(source.generations),
    prompt_tokens: count(source.prompt_tokens),
    completion_tokens: count(source.completion_tokens),
    total_tokens: count(source.total_tokens),
    cache_creation_input_tokens: count(source.cache_creation_input_tokens),
    cache_read_input_tokens: count(source.cache_read_input_tokens),
    estimated_cost_usd: money(source.estimated_cost_usd),
    unpriced: count(source.unpriced),
  };
}

/** Which tool's result this is, from its shape (hosts do not always say which tool ran). */
export function toolOf(content: unknown): ToolName | null {
  if (!isObject(content)) return null;
  if (Array.isArray(content.rows) && isObject(content.totals)) return "usage_report";
  if (Array.isArray(content.results) && isObject(content.totals)) return "get_generations";
  return null;
}

export function dashboardOf(content: unknown): Dashboard | null {
  const tool = toolOf(content);
  if (tool === "usage_report") return fromReport(content as Json);
  if (tool === "get_generations") return fromBatch(content as Json);
  return null;
}

const KEYS: Key[] = ["day", "model", "endpoint"];

function fromReport(report: Json): Dashboard {
  const rows = (report.rows as unknown[]).filter(isObject);
  const groupBy = Array.isArray(report.group_by) ? report.group_by : [];
  const entries = rows.map((row) => ({
    day: text(row.day),
    model: text(row.model),
    endpoint: text(row.endpoint),
    sums: sumsOf(row),
  }));
  return {
    tool: "usage_report",
    entries,
    totals: sumsOf(report.totals as Json),
    keys: KEYS.filter((key) => groupBy.includes(key)),
    since: text(report.since),
    until: text(report.until),
    moreRows: count(report.more_rows),
    ledgerOff: report.ledger === "off",
  };
}

/** A record's UTC day, as the server's request_time reads `created_at` (epoch s or ms, or ISO 8601). */
export function dayOf(createdAt: unknown): string {
  let time: Date | null = null;
  if (typeof createdAt === "number" && createdAt > 0) {
    const seconds = createdAt >= 1e11 ? createdAt / 1000 : createdAt;
    time = seconds < 1e11 ? new Date(seconds * 1000) : null;
  } else if (typeof createdAt === "string") {
    const trimmed = createdAt.trim();
    const zoned = /[zZ]|[+-]\d\d:?\d\d$/.test(trimmed) ? trimmed : `${trimmed}Z`;
    const parsed = new Date(zoned);
    time = Number.isNaN(parsed.getTime()) ? null : parsed;
  }
  return time ? time.toISOString().slice(0, 10) : "unknown";
}

function addRecord(sums: Sums, record: Json): void {
  const usage = isObject(record.usage) ? record.usage : {};
  sums.generations += 1;
  for (const field of TOKEN_FIELDS) sums[field] += count(usage[field]);
  const estimate = isObject(record.estimated_cost) ? record.estimated_cost : {};
  const cost = money(estimate.total);
  if (cost === null) sums.unpriced += 1;
  else sums.estimated_cost_usd = (sums.estimated_cost_usd ?? 0) + cost;
}

const emptySums = (): Sums => ({
  generations: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  total_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  estimated_cost_usd: null,
  unpriced: 0,
});

function fromBatch(batch: Json): Dashboard {
  const groups = new Map<string, Entry>();
  for (const item of (batch.results as unknown[]).filter(isObject)) {
    if (!isObject(item.generation)) continue;
    const record = item.generation;
    const day = dayOf(record.created_at);
    const model = text(record.model) ?? "unknown";
    const name = `${day}\u0000${model}`;
    let entry = groups.get(name);
    if (!entry) {
      entry = { day, model, sums: emptySums() };
      groups.set(name, entry);
    }
    addRecord(entry.sums, record);
  }
  const totals = isObject(batch.totals) && isObject(batch.totals.overall) ? batch.totals.overall : {};
  const counts = isObject(batch.counts) ? batch.counts : {};
  const entries = [...groups.values()];
  const days = entries.map((entry) => entry.day as string).filter((day) => day !== "unknown").sort();
  return {
    tool: "get_generations",
    entries,
    totals: sumsOf(totals),
    keys: ["day", "model"],
    since: days[0],
    until: days[days.length - 1],
    moreRows: 0,
    ledgerOff: false,
    lookedUp: {
      ids: count(counts.ids),
      found: count(counts.found),
      missing: count(counts.not_found) + count(counts.failed),
    },
  };
}
