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
