/**
 * Tool modules resolve their imports the way their own project does: a
 * tool host is started with an import map that holds the runtime's own
 * imports (for the host's code) and, scoped to each tool folder's project,
 * the imports of that project's nearest `deno.json`.
 *
 * @module
 */
import { parse as parseJsonc } from "@std/jsonc/parse";
import { fileURLToPath as fromFileUrl, pathToFileURL as toFileUrl } from "node:url";
import { dirname, join } from "node:path";

type Imports = Record<string, string>;

const RUNTIME_CONFIG = new URL("../../deno.json", import.meta.url);
const CONFIG_NAMES = ["deno.json", "deno.jsonc"];

/**
 * The import map for a host whose tools live in `moduleDirs`, or undefined
 * when none of them belongs to a project with a `deno.json` of its own.
 *
 * @example
 * ```ts
 * import { toolImportMap } from "./_tool_import_map.ts";
 * import { assertEquals } from "@std/assert";
 * // The runtime's own tools resolve with the runtime's own config.
 * assertEquals(toolImportMap([new URL("../../tools/", import.meta.url).pathname]), undefined);
 * ```
 */
export function toolImportMap(
  moduleDirs: readonly string[],
): { imports: Imports; scopes: Record<string, Imports> } | undefined {
  const scopes: Record<string, Imports> = {};
  for (const dir of moduleDirs) {
    const config = _nearestConfig(dir);
    if (!config) continue;
    const imports = _importsOf(config);
    if (Object.keys(imports).length > 0) scopes[toFileUrl(dirname(config)).href + "/"] = imports;
  }
  if (Object.keys(scopes).length === 0) return undefined;
  return { imports: _importsOf(fromFileUrl(RUNTIME_CONFIG)), scopes };
}

/** The nearest `deno.json(c)` at or above `dir` that is not the runtime's own. */
function _nearestConfig(dir: string): string | undefined {
  for (let at = dir;; at = dirname(at)) {
    for (const name of CONFIG_NAMES) {
      const path = join(at, name);
      if (_isFile(path)) return path === fromFileUrl(RUNTIME_CONFIG) ? undefined : path;
    }
    if (dirname(at) === at) return undefined;
  }
}

/** A config's `imports`, with relative targets made absolute (a map resolves them against itself). */
function _importsOf(configPath: string): Imports {
  const config = parseJsonc(Deno.readTextFileSync(configPath)) as { imports?: Imports } | null;
  const base = toFileUrl(configPath);
  return Object.fromEntries(
    Object.entries(config?.imports ?? {}).map((
      [name, target],
    ) => [name, /^\.\.?\//.test(target) ? new URL(target, base).href : target]),
  );
}

function _isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
