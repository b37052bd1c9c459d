/**
 * The ground floor (tools, events, the model, the journal, limits) never
 * imports the floors built on it: `actors/`, `src/http/`, `src/cli/`.
 */
import { assertEquals } from "@std/assert";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The ground's entry modules; whatever they import, transitively, is ground too. */
const GROUND = [
  "src/tool.ts",
  "src/events.ts",
  "src/token_usage.ts",
  "src/tool_limits.ts",
  "src/limit_result.ts",
  "src/model/model.ts",
  "src/model/anthropic_model.ts",
  "src/model/offline_model.ts",
  "src/model/reply.ts",
  "src/model/compaction.ts",
  "src/journal/journal.ts",
  "src/journal/records.ts",
  "src/journal/record_events.ts",
  "src/journal/tasks.ts",
];

const ABOVE = ["actors/", "src/http/", "src/cli/"];

/** The relative modules `path` imports, statically or dynamically, types included. */
async function importsOf(path: string): Promise<string[]> {
  const source = await Deno.readTextFile(join(ROOT, path));
  const specifiers = [...source.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)];
  return specifiers.map(([, specifier]) => relative(ROOT, join(ROOT, dirname(path), specifier)));
}

Deno.test("the ground never imports actors/, src/http/ or src/cli/", async () => {
  const seen = new Set<string>();
  const violations: string[] = [];
  const queue = [...GROUND];
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    seen.add(path);
    for (const imported of await importsOf(path)) {
      if (ABOVE.some((floor) => imported.startsWith(floor))) {
        violations.push(`${path} imports ${imported}`);
      } else queue.push(imported);
    }
  }
  assertEquals(violations, []);
  assertEquals(seen.size > GROUND.length, true, "the walk followed the imports");
});

/** Every module of the runtime: what the cycle check walks. */
async function runtimeModules(): Promise<string[]> {
  const modules: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) modules.push(path);
    }
  };
  for (const dir of ["src", "actors", "tools"]) await walk(dir);
  return modules;
}

/** The import cycles among `modules`: each a strongly connected group, found by Tarjan's walk. */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    for (let member = stack.pop()!;; member = stack.pop()!) {
      group.push(member);
      if (member === node) break;
    }
    if (group.length > 1) cycles.push(group.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

Deno.test("no module imports itself, however indirectly", async () => {
  const graph = new Map<string, string[]>();
  for (const path of await runtimeModules()) graph.set(path, await importsOf(path));
  assertEquals(graph.size > 50, true, "the walk found the runtime's modules");
  assertEquals(cyclesOf(graph), []);
});
