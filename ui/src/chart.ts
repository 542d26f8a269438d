// The stacked bar chart: SVG drawn with d3's scales, stack layout and axes.
import { axisBottom, axisLeft } from "d3-axis";
import { scaleBand, scaleLinear } from "d3-scale";
import { select } from "d3-selection";
import { stack } from "d3-shape";
import type { Dashboard, Entry, Key } from "./data";
import { plural, shortTokens, shortUsd, tokens, usd } from "./format";

export type Metric = "cost" | "tokens";
export type Axis = Key | "all";

// Okabe–Ito-based categorical colours: distinguishable with colour-blindness, legible on light and dark.
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8c8c8c", "#F0E442"];
const OTHERS = "#6b7280";

export interface Segment {
  category: string;
  series: string;
  entries: Entry[];
}

export interface ChartModel {
  axis: Axis;
  metric: Metric;
  seriesKey: Axis;
  categories: string[];
  series: string[];
  /** category → series → the entries summed into that segment */
  cells: Map<string, Map<string, Entry[]>>;
  /** the series with at least one cost estimate */
  priced: Set<string>;
}

const keyOf = (entry: Entry, key: Axis): string => (key === "all" ? "all" : (entry[key] ?? "unknown"));

export const valueOf = (entries: Entry[], metric: Metric): number =>
  entries.reduce(
    (sum, entry) => sum + (metric === "cost" ? (entry.sums.estimated_cost_usd ?? 0) : entry.sums.total_tokens),
    0,
  );

/** The x axes this data can have: day and/or model, else endpoint, else one group "all". */
export function axesOf(data: Dashboard): Axis[] {
  const axes: Axis[] = data.keys.filter((key): key is "day" | "model" => key === "day" || key === "model");
  if (axes.length) return axes;
  return data.keys.includes("endpoint") ? ["endpoint"] : ["all"];
}

/** Stacks: by model when the data has models (the same colours on every axis and metric), else by endpoint. */
function seriesKeyOf(data: Dashboard): Axis {
  if (data.keys.includes("model")) return "model";
  if (data.keys.includes("endpoint")) return "endpoint";
  return "all";
}

export function chartModel(data: Dashboard, axis: Axis, metric: Metric): ChartModel {
  const seriesKey = seriesKeyOf(data);
  const cells = new Map<string, Map<string, Entry[]>>();
  for (const entry of data.entries) {
    const category = keyOf(entry, axis);
    const series = keyOf(entry, seriesKey);
    const row = cells.get(category) ?? new Map<string, Entry[]>();
    cells.set(category, row);
    row.set(series, [...(row.get(series) ?? []), entry]);
  }
  const categoryTotal = (category: string) => valueOf([...(cells.get(category)?.values() ?? [])].flat(), metric);
  const categories = [...cells.keys()].sort((a, b) =>
    axis === "day" ? a.localeCompare(b) : categoryTotal(b) - categoryTotal(a) || a.localeCompare(b),
  );
  // Largest series (by cost, then tokens) first: at the bottom of each stack and first in the legend.
  const seriesTotals = new Map<string, [number, number]>();
  for (const row of cells.values())
    for (const [series, entries] of row) {
      const [cost, toks] = seriesTotals.get(series) ?? [0, 0];
      seriesTotals.set(series, [cost + valueOf(entries, "cost"), toks + valueOf(entries, "tokens")]);
    }
  const series = [...seriesTotals.keys()].sort((a, b) => {
    const [ca, ta] = seriesTotals.get(a) as [number, number];
    const [cb, tb] = seriesTotals.get(b) as [number, number];
    return cb - ca || tb - ta || a.localeCompare(b);
  });
  const priced = new Set(
    data.entries.filter((entry) => entry.sums.estimated_cost_usd !== null).map((entry) => keyOf(entry, seriesKey)),
  );
  return { axis, metric, seriesKey, categories, series, cells, priced };
}

export function colourOf(model: ChartModel, series: string): string {
  const index = model.series.indexOf(series);
  return index >= 0 && index < PALETTE.length ? PALETTE[index] : OTHERS;
}


/** What a hover says about one segment (also the segment's SVG <title>). */
export function describe(model: ChartModel, category: string, series: string, entries: Entry[]): string {
  const sum = (pick: (entry: Entry) => number) => entries.reduce((total, entry) => total + pick(entry), 0);
  const unpriced = sum((entry) => entry.sums.unpriced);
  const priced = entries.some((entry) => entry.sums.estimated_cost_usd !== null);
  const cost = priced ? usd(valueOf(entries, "cost")) : "not priced";
  const lines = [
    model.seriesKey !== "all" && series !== category ? `${category} · ${series}` : category,
    `${plural(sum((entry) => entry.sums.generations), "generation")}, est. ${cost}${priced && unpriced ? ` (${unpriced} unpriced)` : ""}`,
    `input ${tokens(sum((entry) => entry.sums.prompt_tokens))} · output ${tokens(sum((entry) => entry.sums.completion_tokens))}`,
    `cache read ${tokens(sum((entry) => entry.sums.cache_read_input_tokens))} · cache write ${tokens(sum((entry) => entry.sums.cache_creation_input_tokens))}`,
  ];
  return lines.join("\n");
}

const SHORT_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function categoryLabel(axis: Axis, category: string, width: number): string {
  if (axis === "day" && /^\d{4}-\d\d-\d\d$/.test(category)) {
    const [year, month, day] = category.split("-");
    return `${Number(day)} ${SHORT_MONTHS[Number(month) - 1]} ${year.slice(2)}`;
  }
  // A model's snapshot date says little on an axis label (the legend and hover give the full name).
  const short = axis === "model" ? category.replace(/-(?:\d{8}|\d{4}-\d\d-\d\d)$/, "") : category;
  const room = Math.max(4, Math.floor(width / 6.5));
  return short.length > room ? `${short.slice(0, room - 1)}…` : short;
}

export interface Hover {
  show(text: string, x: number, y: number): void;
  hide(): void;
}

/** Draws the chart into `container` (an SVG sized to its width). */
export function drawChart(container: HTMLElement, model: ChartModel, hover: Hover): void {
  const width = Math.max(280, Math.floor(container.clientWidth || 360));
  const height = width < 480 ? 220 : 240;
  const labelsTilted = model.axis !== "day" || width / Math.max(model.categories.length, 1) < 56;
  const margin = { top: 18, right: 8, bottom: labelsTilted ? 76 : 28, left: 52 };
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;

  const rows = model.categories.map((category) => {
    const row: Record<string, number> = {};
    for (const series of model.series) row[series] = valueOf(model.cells.get(category)?.get(series) ?? [], model.metric);
    return row;
  });
  const layers = stack<Record<string, number>>().keys(model.series)(rows);
  const top = Math.max(0, ...layers.flatMap((layer) => layer.map((point) => point[1])));

  const x = scaleBand<string>().domain(model.categories).range([0, innerWidth]).padding(0.28);
  const y = scaleLinear()
    .domain([0, top || 1])
    .nice(4)
    .range([innerHeight, 0]);

  container.replaceChildren();
  const svg = select(container)
    .append("svg")
    .attr("width", width)
    .attr("height", height)
    .attr("viewBox", `0 0 ${width} ${height}`)
    .attr("role", "img")
    .attr("aria-label", `${model.metric === "cost" ? "Estimated cost" : "Tokens"} per ${model.axis}`);
  const plot = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);

  plot
    .append("g")
    .attr("class", "grid")
    .call(
      axisLeft(y)
        .ticks(4)
        .tickSize(-innerWidth)
        .tickFormat((value) => (model.metric === "cost" ? shortUsd(+value) : shortTokens(+value))),
    )
    .call((axis) => axis.select(".domain").remove());

  const bar = Math.min(x.bandwidth(), 64);
  const offset = (x.bandwidth() - bar) / 2;
  const labelled = bar >= 34;
  for (const [index, category] of model.categories.entries()) {
    const group = plot
      .append("g")
      .attr("data-group", category)
      .attr("transform", `translate(${(x(category) ?? 0) + offset},0)`);
    const stackTop = Math.max(0, ...layers.map((layer) => layer[index][1]));
    if (labelled)
      group
        .append("text")
        .attr("class", "bar-total")
        .attr("x", bar / 2)
        .attr("y", y(stackTop) - 4)
        .attr("text-anchor", "middle")
        .text(model.metric === "cost" ? usd(stackTop) : shortTokens(stackTop));
    for (const layer of layers) {
      const [low, high] = layer[index];
      const entries = model.cells.get(category)?.get(layer.key);
      if (!entries) continue;
      const description = describe(model, category, layer.key, entries);
      const rect = group
        .append("rect")
        .attr("data-series", layer.key)
        .attr("data-value", String(high - low))
        .attr("x", 0)
        .attr("width", bar)
        .attr("y", y(high))
        .attr("height", Math.max(0, y(low) - y(high)))
        .attr("fill", colourOf(model, layer.key))
        .attr("tabindex", 0)
        .attr("aria-label", description.replaceAll("\n", "; "));
      rect.append("title").text(description);
      const node = rect.node() as SVGRectElement;
      const show = () => {
        const box = node.getBoundingClientRect();
        hover.show(description, box.left + box.width / 2, box.top);
      };
      rect.on("mouseenter", show).on("focus", show).on("mouseleave", hover.hide).on("blur", hover.hide);
    }
  }

  const xAxis = plot
    .append("g")
    .attr("class", "x-axis")
    .attr("transform", `translate(0,${innerHeight})`)
    .call(
      axisBottom(x)
        .tickSizeOuter(0)
        .tickFormat((category) => categoryLabel(model.axis, category, labelsTilted ? margin.bottom * 1.6 : x.step())),
    );
  if (labelsTilted) xAxis.selectAll("text").attr("transform", "rotate(-35)").attr("text-anchor", "end").attr("dx", "-0.4em").attr("dy", "0.6em");
  xAxis.selectAll<SVGTextElement, string>("text").append("title").text((category) => category);
}

