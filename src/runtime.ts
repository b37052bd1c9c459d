/**
 * Builds the actor system from the command line and the environment; the
 * CLI and the HTTP server start the same way.
 *
 * @module
 */
import { AgentSystem } from "../actors/agent_system.ts";
import { ToolWorker } from "../actors/tool_worker/tool_worker.ts";
import { detectPlatform, type Platform } from "./platform.ts";
import type { CliOptions } from "./cli/args.ts";
import { AnthropicModel, DEFAULT_MODEL } from "./model/anthropic_model.ts";
import type { Model } from "./model/model.ts";
import { OfflineModel } from "./model/offline_model.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "./tool_catalog.ts";

/**
 * Detects the platform, loads the tools and picks the model. Throws a
 * ConfigError for bad tools.
 *
 * @example
 * ```ts ignore
 * const { system, platform } = await createRuntime(parseCliArgs(Deno.args));
 * ```
 */
export async function createRuntime(
  options: Pick<CliOptions, "toolDirs" | "model" | "timeoutMs" | "maxSteps">,
): Promise<{ system: AgentSystem; platform: Platform }> {
  const platform = detectPlatform();
  ToolWorker.sandbox = platform.toolSandbox;
  const model = modelFromEnvironment();
  const catalog = platform.toolSandbox === "disabled"
    ? new ToolCatalog([])
    : await ToolCatalog.load([BUILTIN_TOOLS_DIR, ...options.toolDirs]);
  if (platform.toolSandbox !== "per-worker") {
    console.error(
      `Warning: tool sandbox is "${platform.toolSandbox}" (per-worker permissions are not confirmed here).`,
    );
  }
  const system = new AgentSystem({
    model,
    modelName: options.model ?? Deno.env.get("AGENT_MODEL") ?? DEFAULT_MODEL,
    catalog,
    defaultTimeoutMs: options.timeoutMs,
    maxSteps: options.maxSteps,
    maxTokens: 8192,
  });
  return { system, platform };
}

/**
 * The API key is read once and then removed from the environment, so that
 * not even a tool granted `env: true` can read it.
 */
function modelFromEnvironment(): Model {
  const apiKey = Deno.env.get("ANTHROPIC_API_KEY");
  if (!apiKey) {
    console.error(
      "No ANTHROPIC_API_KEY: using the built-in offline demo model (it runs real tools, but is not Claude).",
    );
    return new OfflineModel();
  }
  Deno.env.delete("ANTHROPIC_API_KEY");
  return new AnthropicModel({ apiKey, baseURL: Deno.env.get("ANTHROPIC_BASE_URL") || undefined });
}
