// Processes, the MCP client and expected values for the browser test: the sandbox upstream and the
// server (stdio) started as a user starts them, with a ledger of the test's own.
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

export const RESOURCE_URI = "ui://kushrouter/usage-dashboard.html";
export const APP_MIME_TYPE = "text/html;profile=mcp-app";
export const TOKEN_FIELDS = [
  "prompt_tokens",
  "completion_tokens",
  "total_tokens",
  "cache_creation_input_tokens",
  "cache_read_input_tokens",
];

/** `kushrouter-mcp`, or the command in KUSHROUTER_MCP_BIN (words split on spaces, e.g. "python -m kushrouter_mcp"). */
export function kushrouterCommand(...args) {
  const words = (process.env.KUSHROUTER_MCP_BIN || "kushrouter-mcp").trim().split(/\s+/);
  return { command: words[0], args: [...words.slice(1), ...args] };
}

/** What a client gives the server: PATH, the trust store and PYTHONPATH/XDG_DATA_HOME if set, and `settings`. */
export function cleanEnv(settings = {}) {
  const env = { PATH: process.env.PATH ?? "" };
  for (const name of ["SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONPATH", "XDG_DATA_HOME", "HOME"])
    if (process.env[name]) env[name] = process.env[name];
  return { ...env, ...settings };
}

/** `kushrouter-mcp sandbox --port 0`: its first two stdout lines name its base URL and the key it accepts. */
export async function startSandbox() {
  const { command, args } = kushrouterCommand("sandbox", "--port", "0");
  const child = spawn(command, args, { env: cleanEnv(), stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const settings = {};
  const banner = new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the sandbox exited with code ${code} before its banner`)));
    child.once("error", reject);
    lines.on("line", (line) => {
      const [name, ...rest] = line.split("=");
      if (Object.keys(settings).length < 2) settings[name] = rest.join("=");
      if (Object.keys(settings).length === 2) resolve();
    });
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    await banner;
  } finally {
    clearTimeout(timer);
  }
  if (!settings.KUSHROUTER_BASE_URL || !settings.KUSHROUTER_API_KEY)
    throw new Error(`the sandbox's banner set ${Object.keys(settings)}, not its base URL and key`);
  return {
    baseUrl: settings.KUSHROUTER_BASE_URL,
    apiKey: settings.KUSHROUTER_API_KEY,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  };
}

/** An MCP client of the server over stdio; it declares the MCP Apps extension, as an Apps host does. */
export async function connectServer(sandbox, ledger) {
  const { command, args } = kushrouterCommand();
  const transport = new StdioClientTransport({
    command,
    args,
    env: cleanEnv({
      KUSHROUTER_BASE_URL: sandbox.baseUrl,
      KUSHROUTER_API_KEY: sandbox.apiKey,
      KUSHROUTER_MCP_LEDGER: ledger,
    }),
    stderr: "inherit",
  });
  const client = new Client(
    { name: "kushrouter-browser-test", version: "1.0.0" },
    { capabilities: { extensions: { "io.modelcontextprotocol/ui": { mimeTypes: [APP_MIME_TYPE] } } } },
  );
  await client.connect(transport);
  return client;
}

/** `kushrouter-mcp report ARGS` over the ledger, for the sandbox key's records; throws with its output if it fails. */
export function runReport(sandbox, ledger, ...args) {
  const { command, args: argv } = kushrouterCommand("report", ...args);
  const env = cleanEnv({ KUSHROUTER_MCP_LEDGER: ledger, KUSHROUTER_API_KEY: sandbox.apiKey });
  const run = spawnSync(command, argv, { env, encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) throw new Error(`${command} ${argv.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run;
}

// --- expected values, from the records the sandbox returned (never from the page) ---------------

export const utcDay = (createdAt) => new Date(createdAt * 1000).toISOString().slice(0, 10);

/** Sums over records as the server's totals define them: token fields, the cost of priced records, the unpriced count. */
export function sumRecords(records) {
  const sums = Object.fromEntries([["generations", records.length], ...TOKEN_FIELDS.map((field) => [field, 0])]);
  let cost = 0;
  let unpriced = 0;
  for (const record of records) {
    for (const field of TOKEN_FIELDS) sums[field] += record.usage?.[field] ?? 0;
    const total = record.estimated_cost?.total;
    if (typeof total === "number") cost += total;
    else unpriced += 1;
  }
  return { ...sums, estimated_cost_usd: cost, unpriced };
}

export function groupBy(records, keyOf) {
  const groups = new Map();
  for (const record of records) groups.set(keyOf(record), [...(groups.get(keyOf(record)) ?? []), record]);
  return groups;
}
