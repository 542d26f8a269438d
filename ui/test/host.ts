// The browser test's MCP Apps host: the SDK's host side (AppBridge and its postMessage transport)
// loads the app's HTML into a sandboxed iframe and hands it a tool result. The test (Node) drives
// it through `window.kushrouterHost`.
import { AppBridge, PostMessageTransport, type McpUiHostContext } from "@modelcontextprotocol/ext-apps/app-bridge";

type ToolResult = Parameters<AppBridge["sendToolResult"]>[0];

let bridge: AppBridge | null = null;

async function load(html: string, result: ToolResult, context: McpUiHostContext, width: number): Promise<void> {
  document.body.replaceChildren();
  const frame = document.createElement("iframe");
  // What hosts give inline views by default: scripts, an opaque origin, nothing else.
  frame.setAttribute("sandbox", "allow-scripts");
  frame.style.width = `${width}px`;
  frame.style.height = "600px";
  frame.srcdoc = html;
  document.body.append(frame);
  await new Promise((resolve) => frame.addEventListener("load", resolve, { once: true }));
  const target = frame.contentWindow as Window;
  bridge = new AppBridge(null, { name: "kushrouter-test-host", version: "1.0.0" }, {}, { hostContext: context });
  const initialized = new Promise<void>((resolve) => {
    (bridge as AppBridge).oninitialized = () => resolve();
  });
  bridge.onsizechange = ({ height }) => {
    if (height) frame.style.height = `${height}px`;
  };
  await bridge.connect(new PostMessageTransport(target, target));
  await initialized;
  await bridge.sendToolResult(result);
}

async function setTheme(theme: "light" | "dark"): Promise<void> {
  await bridge?.sendHostContextChange({ theme });
}

(window as unknown as Record<string, unknown>).kushrouterHost = { load, setTheme, ready: true };
