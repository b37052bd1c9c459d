/**
 * The tools a runtime knows: loaded from tools folders, each described in a
 * worker, validated, and ready to be offered to the model.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { z } from "zod";
import type { ToolExecutor } from "../actors/tool_executor.ts";
import { WorkerExecutor } from "../actors/tool_worker/worker_executor.ts";
import { ConfigError } from "./config_error.ts";
import { errorMessage } from "./_error_message.ts";
import { PERMISSION_NAMES, type ToolDeclaration, type ToolPermissions } from "./tool.ts";
import { limitsSchema } from "./tool_limits.ts";
import { wholeNumberSchema } from "./whole_number.ts";

/** The folder of the built-in tools. */
export const BUILTIN_TOOLS_DIR: URL = new URL("../tools/", import.meta.url);

/**
 * A loaded tool: its validated declaration (`limits` as declared: the
 * operator's defaults fill in the rest at call time), its input schema, and
 * where its module is.
 */
export interface CatalogTool extends ToolDeclaration {
  inputSchema: Anthropic.Tool.InputSchema;
  permissions: ToolPermissions;
  moduleUrl: string;
  /** What an MCP server says of its tool beyond its schema: kept for those who list the tools. */
  mcp?: { title?: string; annotations?: Record<string, unknown> };
}

// Ajv caches compiled schemas per object, so validating at load time and
// compiling in the catalog costs one compilation.
// Formats ("uri", "email"…) are hints to the model here, as most tool runners treat them.
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });

/** What the Messages API accepts as a tool's name. */
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const grant = z.union([z.boolean(), z.array(z.string())]);
const toolDescription = z.object({
  name: z.string({ error: "`name` is missing" }).regex(
    TOOL_NAME,
    `\`name\` must match ${TOOL_NAME.source}`,
  ),
  description: z.string({ error: "`description` must be a string" }).min(
    1,
    "`description` is empty",
  ),
  inputSchema: z.looseObject({
    type: z.literal("object", { error: 'the input schema must have `type: "object"`' }),
  }, {
    error: "give `inputSchema` (a JSON Schema object) or `input` (a zod 4 schema)",
  }),
  permissions: z.strictObject(
    Object.fromEntries(PERMISSION_NAMES.map((name) => [name, grant.optional()])),
    { error: `\`permissions\` may only name ${PERMISSION_NAMES.join(", ")}` },
  ),
  timeoutMs: z.number().int().positive("`timeoutMs` must be a positive whole number").optional(),
  background: z.boolean({ error: "`background` must be true or false" }).optional(),
  idempotent: z.boolean({ error: "`idempotent` must be true or false" }).optional(),
  limits: limitsSchema.optional(),
  isolation: z.enum(["shared", "conversation"], {
    error: '`isolation` must be "shared" or "conversation"',
  }).optional(),
  reuse: z.enum(["conversation", "any"], {
    error: '`reuse` must be "conversation" or "any"',
  }).optional(),
  concurrency: wholeNumberSchema("concurrency", 1, 1000).optional(),
  retries: wholeNumberSchema("retries", 0, 10).optional(),
  maxConcurrent: wholeNumberSchema("maxConcurrent", 1, 100_000).optional(),
  perSecond: wholeNumberSchema("perSecond", 1, 100_000).optional(),
  critical: z.boolean({ error: "`critical` must be true or false" }).optional(),
  breaker: z.boolean({ error: "`breaker` must be true or false" }).optional(),
  needsApproval: z.union([z.boolean(), z.literal("by_input")], {
    error: "`needsApproval` must be true, false or a function of the input",
  }).optional(),
  priority: z.enum(["normal", "low"], { error: '`priority` must be "normal" or "low"' }).optional(),
  runs: z.literal(true, { error: "`run` must be a function: `run(input, ctx) { … }`" }),
});

/**
 * The loaded tools, by name.
 *
 * @example
 * ```ts ignore
 * const catalog = await ToolCatalog.load([BUILTIN_TOOLS_DIR]);
 * console.log(catalog.names);
 * ```
 */
export class ToolCatalog {
  readonly #tools = new Map<string, CatalogTool>();
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(tools: CatalogTool[]) {
    for (const tool of tools) {
      this.#tools.set(tool.name, tool);
      this.#validators.set(tool.name, ajv.compile(tool.inputSchema));
    }
  }

  /**
   * Loads the given tool modules, and every tool module in the given
   * folders (files ending in .ts or .js, except `_`-prefixed helpers and
   * tests). Throws a {@linkcode ConfigError}
   * listing every module that is not a valid tool. Each module is loaded
   * where its calls will run, by `executor` (by default, a Web Worker of
   * this process).
   */
  static async load(
    sources: (string | URL)[],
    executor: Pick<ToolExecutor, "describe"> = new WorkerExecutor(),
  ): Promise<ToolCatalog> {
    const modules = (await Promise.all(sources.map(toolModulesIn))).flat();
    const results = await Promise.allSettled(
      modules.map((moduleUrl) => loadTool(moduleUrl, executor)),
    );
    const problems: string[] = [];
    const tools: CatalogTool[] = [];
    results.forEach((result, i) => {
      if (result.status === "rejected") {
        problems.push(`${modules[i]}: ${errorMessage(result.reason)}`);
      } else if (tools.some((tool) => tool.name === result.value.name)) {
        problems.push(`${modules[i]}: another tool is already named "${result.value.name}"`);
      } else tools.push(result.value);
    });
    if (problems.length > 0) {
      throw new ConfigError(`Some tools could not be loaded:\n  ${problems.join("\n  ")}`);
    }
    return new ToolCatalog(tools);
  }

  /**
   * This catalog and `tools` from another source (an MCP server's), or a
   * {@linkcode ConfigError} if a name is taken or a schema is not valid.
   *
   * @example
   * ```ts
   * import { ToolCatalog } from "./tool_catalog.ts";
   * import { assertEquals } from "@std/assert";
   * const echo = {
   *   name: "everything__echo",
   *   description: "Echoes its input",
   *   inputSchema: { type: "object" as const, properties: { message: { type: "string" } } },
   *   permissions: {},
   *   moduleUrl: "mcp://everything/echo",
   * };
   * assertEquals(new ToolCatalog([]).with([echo]).names, ["everything__echo"]);
   * ```
   */
  with(tools: CatalogTool[]): ToolCatalog {
    const problems: string[] = [];
    const added = new Map<string, CatalogTool>();
    for (const tool of tools) {
      // A server's own names may collide too: `a.b` and `a/b` both become `…__a_b`.
      const taken = this.#tools.get(tool.name) ?? added.get(tool.name);
      added.set(tool.name, tool);
      if (taken) {
        problems.push(
          `two tools are named "${tool.name}": ${taken.moduleUrl} and ${tool.moduleUrl} (rename one, or its server)`,
        );
      } else if (!TOOL_NAME.test(tool.name)) {
        problems.push(
          `${tool.moduleUrl}: "${tool.name}" is longer than the 64 characters a tool name may have`,
        );
      } else {
        const invalid = schemaProblem(tool.inputSchema);
        if (invalid) problems.push(`${tool.moduleUrl}: ${invalid}`);
      }
    }
    if (problems.length > 0) {
      throw new ConfigError(`Some tools could not be offered:\n  ${problems.join("\n  ")}`);
    }
    return new ToolCatalog([...this.list(), ...tools]);
  }

  /** The tool names, in load order. */
  get names(): string[] {
    return [...this.#tools.keys()];
  }

  /** The loaded tools, in load order. */
  list(): CatalogTool[] {
    return [...this.#tools.values()];
  }

  /** The tool called `name`, if loaded. */
  get(name: string): CatalogTool | undefined {
    return this.#tools.get(name);
  }

  /** The tools as the Messages API takes them, optionally only the named ones. */
  forModel(only?: readonly string[]): Anthropic.Tool[] {
    // In one order whatever order they loaded in: the prompt cache's prefix starts with them.
    return this.list()
      .filter((tool) => !only || only.includes(tool.name))
      .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
      .map(({ name, description, inputSchema }) => ({
        name,
        description,
        input_schema: inputSchema,
      }));
  }

  /** Why `input` does not match the tool's schema, or `undefined` if it does. */
  checkInput(name: string, input: unknown): string | undefined {
    const validate = this.#validators.get(name);
    if (!validate || validate(input)) return undefined;
    return `Invalid input: ${(validate.errors ?? []).map(formatSchemaError).join("; ")}`;
  }
}

/** A tool module's URL, or the tool modules in a folder. */
async function toolModulesIn(source: string | URL): Promise<string[]> {
  const url = source instanceof URL ? source : new URL(source, `file://${Deno.cwd()}/`);
  try {
    if ((await Deno.stat(url)).isFile) return [url.href];
    const base = new URL(url.href.replace(/\/*$/, "/"));
    const names: string[] = [];
    for await (const entry of Deno.readDir(base)) {
      if (entry.isFile && isToolModule(entry.name)) names.push(entry.name);
    }
    return names.sort().map((name) => new URL(name, base).href);
  } catch (error) {
    throw new ConfigError(
      `Cannot read the tool module or folder ${decodeURI(url.pathname)}: ${errorMessage(error)}`,
    );
  }
}

function isToolModule(file: string): boolean {
  return /\.(ts|js|mts|mjs)$/.test(file) && !/^[_.]/.test(file) &&
    !/[_.]test\.[mt]?[jt]s$/.test(file) &&
    !file.endsWith(".d.ts");
}

async function loadTool(
  moduleUrl: string,
  executor: Pick<ToolExecutor, "describe">,
): Promise<CatalogTool> {
  const description = await executor.describe(moduleUrl).catch((error) => {
    if (!/does not provide an export named 'default'/.test(error.message)) throw error;
    throw new Error(
      "the module has no default export: `export default { name, description, inputSchema, run }`",
    );
  });
  const parsed = toolDescription.safeParse(description);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((issue) => issue.message).join("; "));
  }
  const { runs: _, ...described } = parsed.data;
  if (described.retries && !described.idempotent) {
    throw new Error("`retries` needs `idempotent: true`: only a tool safe to run twice is retried");
  }
  const tool = { ...described, moduleUrl } as CatalogTool;
  const invalid = schemaProblem(tool.inputSchema);
  if (invalid) throw new Error(invalid);
  return tool;
}

/** Why `schema` does not compile, or undefined if it does (and is then cached by Ajv). */
function schemaProblem(schema: Anthropic.Tool.InputSchema): string | undefined {
  try {
    ajv.compile(schema);
  } catch (error) {
    return `the input schema is not valid JSON Schema: ${errorMessage(error)}`;
  }
}

function formatSchemaError(error: ErrorObject): string {
  const at = error.instancePath ? `input${error.instancePath.replaceAll("/", ".")}` : "input";
  const extra = error.params?.additionalProperty ? ` ("${error.params.additionalProperty}")` : "";
  return `${at} ${error.message}${extra}`;
}
