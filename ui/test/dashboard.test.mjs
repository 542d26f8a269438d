// The usage dashboard in a real browser (Debian's Chromium driven by playwright-core, no browser
// download): the in-chat view read from a running server with resources/read and handed real
// usage_report and get_generations results through the App SDK's host side (test/host.ts), light
// and dark, wide and narrow; then the standalone `kushrouter-mcp report --format html` page opened
// from disk. Expected values come from the records the sandbox returned, never from the page.
// Any request the pages make (besides loading the page itself) fails the test.
//
// Env: KUSHROUTER_MCP_BIN (default `kushrouter-mcp`), CHROMIUM (default /usr/bin/chromium),
// KUSHROUTER_SCREENSHOTS (default <repo>/.ci-cache/screenshots). Run `npm run build` first.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import {
  APP_MIME_TYPE,
  RESOURCE_URI,
  TOKEN_FIELDS,
  connectServer,
  groupBy,
  runReport,
  startSandbox,
  sumRecords,
  utcDay,
} from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");
const HOST_PAGE = join(HERE, "..", "dist", "test-host.html");
const SCREENSHOTS = resolve(process.env.KUSHROUTER_SCREENSHOTS || join(REPO, ".ci-cache", "screenshots"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// The sandbox's seeded records its key (alice) can see (server/kushrouter_mcp/sandbox/samples.py),
// one of them a model no price list knows, and two ids with no record for that key.
const FOUND_IDS = [
  "chatcmpl-1731753062-2q7nyc",
  "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
  "resp_68b2e1f4a0c38190a7d2e5f6b1c4d8e90f3a6b7c2d5e8f14",
  "msg_01XFDUDYJgAACzvnptvVoYEL",
  "chatcmpl-1731754120-x7k2mf",
  "chatcmpl-a&b=c#d%e+f",
  "chatcmpl-1731760321-u4np9z",
];
const MISSING_IDS = ["msg_01Hb7Tq2LwZs9NcV4mKpR8dE", "no-such-generation-xyz"];
const COST_TOLERANCE = 1e-9;

let scratch;
let sandbox;
let client;
let browser;
let appHtml;
let batchResult;
let reportResult;
let records; // the generation records the sandbox returned
let ledger;

before(async () => {
  assert.ok(existsSync(HOST_PAGE), `${HOST_PAGE} is missing: run \`npm run build\` in ui/ first`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM`);
  scratch = await mkdtemp(join(tmpdir(), "kushrouter-dashboard-"));
  ledger = join(scratch, "ledger.sqlite3");
  await mkdir(SCREENSHOTS, { recursive: true });
  sandbox = await startSandbox();
  client = await connectServer(sandbox, ledger);
  browser = await chromium.launch({ executablePath: CHROMIUM });

  const listed = (await client.listResources()).resources.find((resource) => resource.uri === RESOURCE_URI);
  assert.ok(listed, `the server lists no ${RESOURCE_URI}`);
  assert.equal(listed.mimeType, APP_MIME_TYPE);
  const read = await client.readResource({ uri: RESOURCE_URI });
  assert.equal(read.contents[0].mimeType, APP_MIME_TYPE);
  appHtml = read.contents[0].text;

  batchResult = await client.callTool({ name: "get_generations", arguments: { ids: [...FOUND_IDS, ...MISSING_IDS] } });
  assert.ok(!batchResult.isError, JSON.stringify(batchResult.content));
  records = batchResult.structuredContent.results.map((item) => item.generation).filter(Boolean);
  assert.equal(records.length, FOUND_IDS.length, "every seeded id has a record");
  const firstDay = [...records.map((record) => utcDay(record.created_at))].sort()[0];
  reportResult = await client.callTool({ name: "usage_report", arguments: { since: firstDay } });
  assert.ok(!reportResult.isError, JSON.stringify(reportResult.content));
});

after(async () => {
  await browser?.close();
  await client?.close();
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

// --- pages ---------------------------------------------------------------------------------------

/** A page whose every request but `allowed` (the document itself) is aborted and recorded. */
async function guardedPage(options, allowed) {
  const context = await browser.newContext(options);
  const offending = [];
  context.on("request", (request) => {
    if (request.url() !== allowed) offending.push(request.url());
  });
  await context.route("**/*", (route) => (route.request().url() === allowed ? route.continue() : route.abort()));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  return { page, context, offending, errors };
}

/** The host page with the app loaded in its sandboxed iframe and handed `result`; returns the app's frame. */
async function inChat(result, { theme = "light", width = 560, drawn = "#chart g[data-group]" } = {}) {
  const hostUrl = pathToFileURL(HOST_PAGE).href;
  const guarded = await guardedPage({ viewport: { width: width + 40, height: 900 } }, hostUrl);
  await guarded.page.goto(hostUrl);
  await guarded.page.waitForFunction(() => window.kushrouterHost?.ready);
  await guarded.page.evaluate(
    ([html, toolResult, hostTheme, frameWidth]) =>
      window.kushrouterHost.load(html, toolResult, { theme: hostTheme, displayMode: "inline" }, frameWidth),
    [appHtml, { content: result.content, structuredContent: result.structuredContent }, theme, width],
  );
  const frame = guarded.page.frames().find((candidate) => candidate !== guarded.page.mainFrame());
  assert.ok(frame, "the host page has the app's iframe");
  await frame.waitForSelector(drawn);
  return { ...guarded, frame };
}

async function standalone(file, colorScheme) {
  const url = pathToFileURL(file).href;
  // A short viewport: a full-page screenshot is then as tall as the content.
  const guarded = await guardedPage({ viewport: { width: 720, height: 300 }, colorScheme }, url);
  await guarded.page.goto(url);
  await guarded.page.waitForSelector("#chart g[data-group]");
  return { ...guarded, frame: guarded.page.mainFrame() };
}

async function finish({ context, offending, errors }) {
  await context.close();
  assert.deepEqual(offending, [], "the page made no request");
  assert.deepEqual(errors, [], "no script error");
}

// --- checks --------------------------------------------------------------------------------------

const bars = (frame) =>
  frame.$$eval("#chart g[data-group]", (groups) =>
    groups.map((group) => ({
      group: group.dataset.group,
      segments: [...group.querySelectorAll("rect[data-series][data-value]")].map((rect) => ({
        series: rect.dataset.series,
        value: Number(rect.dataset.value),
        title: rect.querySelector("title")?.textContent ?? "",
      })),
    })),
  );

const costOf = (group) => sumRecords(group).estimated_cost_usd;
const tokensOf = (group) => sumRecords(group).total_tokens;

/** One bar per group of `expected` (key → records), each stack summing to `valueOf(records)`, stacked by model. */
async function checkBars(frame, expected, valueOf, what) {
  const drawn = await bars(frame);
  assert.deepEqual(drawn.map((bar) => bar.group).sort(), [...expected.keys()].sort(), `one bar per ${what}`);
  for (const bar of drawn) {
    const groupRecords = expected.get(bar.group);
    const total = bar.segments.reduce((sum, segment) => sum + segment.value, 0);
    assert.ok(Math.abs(total - valueOf(groupRecords)) < COST_TOLERANCE, `${what} ${bar.group}: ${total} vs ${valueOf(groupRecords)}`);
    const models = [...new Set(groupRecords.map((record) => record.model))].sort();
    assert.deepEqual(bar.segments.map((segment) => segment.series).sort(), models, `${bar.group} stacked by model`);
    for (const segment of bar.segments) assert.match(segment.title, new RegExp(`generation`), "each segment has hover details");
  }
}

async function checkTotals(frame, expected) {
  for (const field of ["generations", ...TOKEN_FIELDS]) {
    const cell = frame.locator(`#totals [data-field="${field}"]`);
    assert.equal(Number(await cell.getAttribute("data-value")), expected[field], `totals ${field}`);
    assert.equal((await cell.textContent()).trim(), expected[field].toLocaleString("en-US"), `totals ${field} as shown`);
  }
  const cost = frame.locator('#totals [data-field="estimated_cost_usd"]');
  assert.ok(Math.abs(Number(await cost.getAttribute("data-value")) - expected.estimated_cost_usd) < COST_TOLERANCE, "totals cost");
  assert.match(await cost.textContent(), /^\$\d/);
  const unpriced = frame.locator("#unpriced");
  assert.equal(Number(await unpriced.getAttribute("data-value")), expected.unpriced, "unpriced count");
  assert.ok(await unpriced.isVisible(), "the unpriced count is shown");
  assert.match(await unpriced.textContent(), new RegExp(`Unpriced: ${expected.unpriced} record`));
  assert.match(await frame.locator("body").textContent(), /estimates[^.]*not an invoice/i);
}

/** Everything a view of these records shows: bars per day (cost, then tokens), per model, the totals. */
async function checkView(frame, viewRecords) {
  const byDay = groupBy(viewRecords, (record) => utcDay(record.created_at));
  const byModel = groupBy(viewRecords, (record) => record.model);
  await checkTotals(frame, sumRecords(viewRecords));
  await checkBars(frame, byDay, costOf, "day");
  await frame.click('[data-metric="tokens"]');
  await checkBars(frame, byDay, tokensOf, "day");
  await frame.click('[data-axis="model"]');
  await checkBars(frame, byModel, tokensOf, "model");
  await frame.click('[data-metric="cost"]');
  await checkBars(frame, byModel, costOf, "model");
  await frame.click('[data-axis="day"]');
  // Hover details: the tooltip names the group and its figures.
  await frame.locator("#chart rect[data-series]").first().hover();
  assert.match(await frame.locator("#tooltip").textContent(), /generation/);
  assert.ok(await frame.locator("#tooltip").isVisible(), "the tooltip shows on hover");
  await frame.locator("h1").hover();
}

const theme = (frame) => frame.evaluate(() => document.documentElement.dataset.theme);

// --- tests ---------------------------------------------------------------------------------------

describe("in-chat view (MCP Apps host page, app from resources/read)", () => {
  test("usage_report, light, then dark when the host's theme changes", async () => {
    const view = await inChat(reportResult, { theme: "light" });
    assert.equal(await theme(view.frame), "light");
    assert.deepEqual(reportResult.structuredContent.more_rows, 0);
    await checkView(view.frame, records);
    await view.page.locator("iframe").screenshot({ path: join(SCREENSHOTS, "in-chat-light.png") });
    await view.page.evaluate(() => window.kushrouterHost.setTheme("dark"));
    await view.frame.waitForFunction(() => document.documentElement.dataset.theme === "dark");
    await finish(view);
  });

  test("usage_report in a dark host", async () => {
    const view = await inChat(reportResult, { theme: "dark" });
    assert.equal(await theme(view.frame), "dark");
    const background = await view.frame.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(background, "rgb(255, 255, 255)", "a dark background");
    await checkView(view.frame, records);
    await view.page.locator("iframe").screenshot({ path: join(SCREENSHOTS, "in-chat-dark.png") });
    await finish(view);
  });

  test("usage_report at a narrow inline width (360 px)", async () => {
    const view = await inChat(reportResult, { theme: "light", width: 360 });
    await checkView(view.frame, records);
    const overflow = await view.frame.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `nothing wider than the frame (${overflow} px over)`);
    await view.page.locator("iframe").screenshot({ path: join(SCREENSHOTS, "in-chat-narrow.png") });
    await finish(view);
  });

  test("get_generations: its records grouped by day and model", async () => {
    const view = await inChat(batchResult, { theme: "light" });
    await checkView(view.frame, records);
    assert.match(await view.frame.locator("#period").textContent(), new RegExp(`${MISSING_IDS.length} ids had no record`));
    await view.page.locator("iframe").screenshot({ path: join(SCREENSHOTS, "in-chat-generations.png") });
    await view.frame.click('[data-metric="tokens"]');
    await view.frame.click('[data-axis="model"]');
    await view.page.locator("iframe").screenshot({ path: join(SCREENSHOTS, "in-chat-tokens-by-model.png") });
    await finish(view);
  });
});

test("a report cut by its limit: the groups left out are said, the totals still count them", async () => {
  const firstDay = [...records.map((record) => utcDay(record.created_at))].sort()[0];
  const cut = await client.callTool({ name: "usage_report", arguments: { since: firstDay, limit: 1 } });
  assert.ok(!cut.isError, JSON.stringify(cut.content));
  const { rows, more_rows: moreRows } = cut.structuredContent;
  assert.equal(rows.length, 1);
  const groups = groupBy(records, (record) => `${utcDay(record.created_at)} ${record.model}`);
  assert.equal(moreRows, groups.size - 1, "the report left out every other day-and-model group");
  const view = await inChat(cut);
  assert.deepEqual((await bars(view.frame)).map((bar) => bar.group), [rows[0].day]);
  assert.ok(await view.frame.locator("#more-rows").isVisible(), "the cut is said");
  assert.match(await view.frame.locator("#more-rows").textContent(), new RegExp(`^${moreRows} more groups`));
  await checkTotals(view.frame, sumRecords(records));
  await finish(view);
});

test("an empty period: a clear message, no chart", async () => {
  const empty = await client.callTool({ name: "usage_report", arguments: { since: "2020-01-01", until: "2020-01-02" } });
  assert.ok(!empty.isError, JSON.stringify(empty.content));
  assert.equal(empty.structuredContent.rows.length, 0, "nothing recorded in 2020");
  const view = await inChat(empty, { drawn: "#message:has-text('No usage recorded')" });
  assert.equal(await view.frame.locator("#chart g[data-group]").count(), 0);
  assert.ok(await view.frame.locator("#dashboard").isHidden(), "no empty chart");
  await finish(view);
});

test("a server whose ledger is off: the view says so, no chart", async () => {
  const offServer = await connectServer(sandbox, "off");
  try {
    const off = await offServer.callTool({ name: "usage_report", arguments: {} });
    assert.ok(!off.isError, JSON.stringify(off.content));
    assert.equal(off.structuredContent.ledger, "off");
    const view = await inChat(off, { drawn: "#message:has-text('ledger is off')" });
    assert.equal(await view.frame.locator("#chart g[data-group]").count(), 0);
    await finish(view);
  } finally {
    await offServer.close();
  }
});

test("the request guard sees what a page fetches (self-check)", async () => {
  const hostUrl = pathToFileURL(HOST_PAGE).href;
  const guarded = await guardedPage({}, hostUrl);
  await guarded.page.goto(hostUrl);
  await guarded.page.evaluate(() => fetch("http://127.0.0.1:9/beacon").catch(() => null));
  await guarded.context.close();
  assert.deepEqual(guarded.offending, ["http://127.0.0.1:9/beacon"]);
});

describe("standalone report (kushrouter-mcp report --format html, opened from disk)", () => {
  test("the ledger the lookups filled, light and dark from the system's colour scheme", async () => {
    const file = join(scratch, "usage.html");
    const firstDay = [...records.map((record) => utcDay(record.created_at))].sort()[0];
    runReport(sandbox, ledger, "--format", "html", "--output", file, "--since", firstDay);
    const page = await readFile(file, "utf8");
    assert.ok(!/<(?:script|link|img)\b[^>]*\bsrc=/i.test(page.replace(/<script type="module">[\s\S]*?<\/script>/, "")), "no external script");
    for (const colorScheme of ["light", "dark"]) {
      const view = await standalone(file, colorScheme);
      assert.equal(await theme(view.frame), colorScheme);
      assert.equal(await view.page.evaluate(() => document.documentElement.dataset.mode), "standalone");
      await checkView(view.frame, records);
      await view.page.screenshot({ path: join(SCREENSHOTS, `standalone-${colorScheme}.png`), fullPage: true });
      await finish(view);
    }
  });
});
