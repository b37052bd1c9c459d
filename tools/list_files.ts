import { defineTool } from "../src/tool.ts";

/** Lists a folder of the workspace (the directory the runtime was started in). Read access to it only. */
export default defineTool<{ path?: string }>({
  name: "list_files",
  description:
    "Lists the entries of a folder in the workspace (the directory the agent was started in). Paths are relative to it.",
  inputSchema: {
    type: "object",
    properties: {
      path: { type: "string", description: 'Folder relative to the workspace. Default: "."' },
    },
    additionalProperties: false,
  },
  permissions: { read: ["."] },
  async run({ path = "." }) {
    const entries: { name: string; type: "file" | "folder" | "link"; bytes?: number }[] = [];
    for await (const entry of Deno.readDir(path)) {
      const type = entry.isDirectory ? "folder" : entry.isSymlink ? "link" : "file";
      const bytes = entry.isFile ? (await Deno.stat(`${path}/${entry.name}`)).size : undefined;
      entries.push({ name: entry.name, type, bytes });
    }
    return entries.sort((a, b) => a.name.localeCompare(b.name));
  },
});
