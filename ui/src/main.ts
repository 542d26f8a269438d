// The view: reads the data embedded by `kushrouter-mcp report --format html`, or else connects to
// the MCP Apps host with the official App SDK and draws each tool result it is handed.
import { App, applyDocumentTheme, applyHostStyleVariables, type McpUiHostContext } from "@modelcontextprotocol/ext-apps";
import { type Axis, axesOf, chartModel, colourOf, drawChart, type Hover, type Metric } from "./chart";
import { type Dashboard, dashboardOf, type Sums } from "./data";
import { plural, tokens, usd, when } from "./format";

const DATA_ELEMENT_ID = "kushrouter-data";

const state: { data: Dashboard | null; axis: Axis; metric: Metric } = { data: null, axis: "day", metric: "cost" };

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function message(text: string): void {
  state.data = null;
  byId("dashboard").hidden = true;
  const note = byId("message");
  note.hidden = false;
  note.textContent = text;
}

// --- theme ---------------------------------------------------------------------------------------

const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function followSystemTheme(): void {
  const apply = () => applyDocumentTheme(systemDark.matches ? "dark" : "light");
  apply();
  systemDark.addEventListener("change", apply);
}

function applyHostContext(context: McpUiHostContext | undefined): void {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
}

// --- rendering -----------------------------------------------------------------------------------

const TOTAL_ROWS: [keyof Sums, string][] = [
  ["generations", "Generations"],
  ["prompt_tokens", "Input tokens"],
  ["completion_tokens", "Output tokens"],
  ["cache_read_input_tokens", "Cache read tokens"],
  ["cache_creation_input_tokens", "Cache write tokens"],
  ["total_tokens", "Total tokens (input + output)"],
  ["estimated_cost_usd", "Estimated cost (USD)"],
];

function renderTotals(totals: Sums): void {
  const body = byId("totals").querySelector("tbody") as HTMLTableSectionElement;
  body.replaceChildren(
    ...TOTAL_ROWS.map(([field, label]) => {
      const row = document.createElement("tr");
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = label;
      const cell = document.createElement("td");
      cell.dataset.field = field;
      const value = totals[field];
      cell.dataset.value = value === null ? "" : String(value);
      if (field === "estimated_cost_usd") {
        cell.textContent = value === null ? "not priced" : usd(value) + (totals.unpriced ? " (partial)" : "");
      } else cell.textContent = tokens(value ?? 0);
      row.append(name, cell);
      return row;
    }),
  );
}

function unpricedText(totals: Sums): string {
  if (totals.unpriced === 0) return `Unpriced: 0. Every record has a cost estimate.`;
  return `Unpriced: ${plural(totals.unpriced, "record")} of ${tokens(totals.generations)} had no price (a model no price list knows, or no usage): the cost leaves ${totals.unpriced === 1 ? "it" : "them"} out.`;
}

function periodText(data: Dashboard): string {
  if (data.tool === "get_generations") {
    const looked = data.lookedUp;
    const span = data.since ? (data.since === data.until ? ` from ${data.since}` : ` from ${data.since} to ${data.until}`) : "";
    const missing = looked && looked.missing ? `; ${plural(looked.missing, "id")} had no record` : "";
    return `${plural(data.totals.generations, "record")} looked up${span} (UTC)${missing}.`;
  }
  return `${when(data.since ?? "")} to ${when(data.until ?? "")} UTC (end excluded), from this server's usage ledger.`;
}

const hover: Hover = {
  show(text, x, y) {
    const tip = byId("tooltip");
    tip.textContent = text;
    tip.hidden = false;
    const width = tip.offsetWidth;
    const left = Math.min(Math.max(4, x - width / 2), window.innerWidth - width - 4);
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(4, y - tip.offsetHeight - 8)}px`;
  },
  hide() {
    byId("tooltip").hidden = true;
  },
};

function renderChart(): void {
  const data = state.data;
  if (!data) return;
  const model = chartModel(data, state.axis, state.metric);
  drawChart(byId("chart"), model, hover);
  const legend = byId("legend");
  legend.hidden = model.seriesKey === "all" || model.series.length < 2;
  legend.replaceChildren(
    ...model.series.map((series) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colourOf(model, series);
      item.append(swatch, series);
      if (state.metric === "cost" && !model.priced.has(series)) item.append(" (not priced)");
      return item;
    }),
  );
  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-axis],[data-metric]")) {
    const pressed = button.dataset.axis ? button.dataset.axis === state.axis : button.dataset.metric === state.metric;
    button.setAttribute("aria-pressed", String(pressed));
  }
  byId("chart-title").textContent = `${state.metric === "cost" ? "Estimated cost" : "Tokens"} per ${state.axis === "all" ? "period" : state.axis}${model.seriesKey !== "all" && model.seriesKey !== state.axis ? `, by ${model.seriesKey}` : ""}`;
}

function render(data: Dashboard): void {
  if (data.ledgerOff) return message("The usage ledger is off (KUSHROUTER_MCP_LEDGER=off): nothing is kept, so there is nothing to draw.");
  if (!data.entries.length || data.totals.generations === 0) {
    return message(
      data.tool === "usage_report"
        ? `No usage recorded from ${when(data.since ?? "")} to ${when(data.until ?? "")} UTC. Only records looked up through this server are in its ledger: look ids up first.`
        : "None of the ids had a record: nothing to draw.",
    );
  }
  state.data = data;
  const axes = axesOf(data);
  if (!axes.includes(state.axis)) state.axis = axes[0];
  byId("message").hidden = true;
  byId("dashboard").hidden = false;
  byId("axis-switch").hidden = axes.length < 2;
  byId("heading").textContent = data.tool === "usage_report" ? "KushRouter usage" : "KushRouter generations";
  byId("period").textContent = periodText(data);
  renderTotals(data.totals);
  const unpriced = byId("unpriced");
  unpriced.dataset.value = String(data.totals.unpriced);
  unpriced.textContent = unpricedText(data.totals);
  unpriced.classList.toggle("warn", data.totals.unpriced > 0);
  const more = byId("more-rows");
  more.hidden = data.moreRows === 0;
  more.textContent = `${plural(data.moreRows, "more group")} left out by the report's limit: the chart leaves them out, the totals count them.`;
  renderChart();
}

function renderResult(content: unknown, isError = false, errorText = ""): void {
  if (isError) return message(errorText || "The tool reported an error.");
  const data = dashboardOf(content);
  if (!data) return message("This view draws the results of usage_report and get_generations; this result has neither shape.");
  render(data);
}

// --- controls ------------------------------------------------------------------------------------

function wireControls(): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-axis]"))
    button.addEventListener("click", () => {
      state.axis = button.dataset.axis as Axis;
      renderChart();
    });
  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-metric]"))
    button.addEventListener("click", () => {
      state.metric = button.dataset.metric as Metric;
      renderChart();
    });
  let lastWidth = 0;
  new ResizeObserver(() => {
    const width = byId("chart").clientWidth;
    if (width !== lastWidth) {
      lastWidth = width;
      renderChart();
    }
  }).observe(byId("chart"));
}

// --- start ---------------------------------------------------------------------------------------

function embedded(): { tool?: string; structuredContent?: unknown } | null {
  const raw = document.getElementById(DATA_ELEMENT_ID)?.textContent?.trim();
  if (!raw) return null;
  return JSON.parse(raw) as { tool?: string; structuredContent?: unknown };
}

async function connectToHost(): Promise<void> {
  message("Waiting for the tool result…");
  const app = new App({ name: "kushrouter-usage-dashboard", version: "1.0.0" });
  app.ontoolresult = (result) => {
    const first = result.content?.find((block) => block.type === "text");
    renderResult(result.structuredContent, Boolean(result.isError), first && "text" in first ? String(first.text) : "");
  };
  app.onhostcontextchanged = (context) => applyHostContext(context);
  await app.connect();
  const context = app.getHostContext();
  if (!context?.theme) followSystemTheme();
  applyHostContext(context);
}

function start(): void {
  wireControls();
  const data = embedded();
  if (data) {
    followSystemTheme();
    document.documentElement.dataset.mode = "standalone";
    renderResult(data.structuredContent);
    return;
  }
  document.documentElement.dataset.mode = "host";
  connectToHost().catch((error: unknown) => {
    followSystemTheme();
    message(`Could not connect to the host: ${error instanceof Error ? error.message : String(error)}`);
  });
}

start();
