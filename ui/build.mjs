// Builds the dashboard into one self-contained HTML file (all JS and CSS inline, nothing fetched)
// and copies it into the Python package; also builds the browser test's host page.
// Deterministic: same sources and lockfile, byte-identical output (CI rebuilds and diffs).
import { build, transform } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const APP_OUTPUT = join(here, "..", "server", "kushrouter_mcp", "face", "ui", "usage-dashboard.html");
export const HOST_OUTPUT = join(here, "dist", "test-host.html");
const DATA_ELEMENT = '<script type="application/json" id="kushrouter-data"></script>';

// zod 4 (the App SDK's schema library) exposes every translation of its error messages as
// `z.locales`, ~200 KB minified that nothing here reads: only English (its default) is kept.
const ZOD_ENGLISH = createRequire(import.meta.url).resolve("zod/v4/locales/en.js");
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(builder) {
    builder.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: "zod-locales", namespace: "zod-english-only" } : undefined,
    );
    // Files of the SDK and zod that nothing here imports are dropped whole.
    builder.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "sdk" || args.namespace !== "file") return undefined;
      const found = await builder.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: "sdk" });
      if (found.errors.length || !/[\\/]node_modules[\\/](?:@modelcontextprotocol|zod)[\\/]/.test(found.path)) return undefined;
      return { path: found.path, sideEffects: false };
    });
    builder.onLoad({ filter: /.*/, namespace: "zod-english-only" }, () => ({
      contents: `export { default as en } from ${JSON.stringify(ZOD_ENGLISH)};`,
      loader: "js",
      resolveDir: here,
    }));
  },
};

async function bundle(entry) {
  const result = await build({
    entryPoints: [join(here, entry)],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    charset: "utf8",
    legalComments: "eof",
    // The SDK's optional Node-only paths are never reached in a browser page.
    define: { "process.env.NODE_ENV": '"production"' },
    plugins: [zodEnglishOnly],
    metafile: true,
    logLevel: "warning",
  });
  if (entry === "src/main.ts" && process.argv.includes("--sizes")) printSizes(result.metafile);
  const code = result.outputFiles[0].text;
  if (/<\/script/i.test(code) || /<!--/.test(code)) throw new Error(`${entry}: the bundle would close its inline <script>`);
  return code;
}

/** `node build.mjs --sizes`: the page's minified script bytes per package (d3 modules together). */
function printSizes(metafile) {
  const sizes = new Map();
  for (const output of Object.values(metafile.outputs))
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? "ui/src (ours)";
      const key = name.startsWith("d3-") ? "d3-*" : name;
      sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput);
    }
  for (const [name, bytes] of [...sizes].sort((a, b) => b[1] - a[1])) console.log(`${String(bytes).padStart(8)}  ${name}`);
}

/** The template with its CSS and script inlined (function replacers: `$` in minified code is literal). */
function inline(template, css, script) {
  return template.replace("/*STYLE*/", () => css.trim()).replace("/*SCRIPT*/", () => script.trim());
}

async function buildApp() {
  const [template, cssSource, script] = await Promise.all([
    readFile(join(here, "src", "index.html"), "utf8"),
    readFile(join(here, "src", "style.css"), "utf8"),
    bundle("src/main.ts"),
  ]);
  const css = (await transform(cssSource, { loader: "css", minify: true })).code;
  const html = inline(template, css, script);
  if (html.split(DATA_ELEMENT).length !== 2) throw new Error(`the page must hold ${DATA_ELEMENT} exactly once`);
  // Nothing to fetch: no URL in the CSS, no src/href in the markup (the browser test also fails on
  // any request the page makes).
  if (/url\(|@import/i.test(css) || /<[a-z]+\b[^>]*\b(?:src|href)\s*=/i.test(template))
    throw new Error("the page's markup or CSS refers to a URL: nothing may be fetched");
  await mkdir(dirname(APP_OUTPUT), { recursive: true });
  await writeFile(APP_OUTPUT, html);
  return Buffer.byteLength(html);
}

async function buildHost() {
  const script = await bundle("test/host.ts");
  const html = `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>test host</title>\n<style>html,body{margin:0}iframe{border:0;display:block}</style></head>\n<body>\n<script type="module">${script}</script>\n</body>\n</html>\n`;
  await mkdir(dirname(HOST_OUTPUT), { recursive: true });
  await writeFile(HOST_OUTPUT, html);
}

const bytes = await buildApp();
await buildHost();
console.log(`built ${APP_OUTPUT} (${bytes} bytes) and ${HOST_OUTPUT}`);
