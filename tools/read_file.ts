import { defineTool } from "../src/tool.ts";

const MAX_BYTES = 200_000;

/** Reads a text file of the workspace (the directory the runtime was started in). Read access to it only. */
export default defineTool<{ path: string }>({
  name: "read_file",
  description:
    `Reads a UTF-8 text file in the workspace (the directory the agent was started in). Returns at most ${MAX_BYTES} bytes.`,
  inputSchema: {
    type: "object",
    properties: { path: { type: "string", description: "File path relative to the workspace." } },
    required: ["path"],
    additionalProperties: false,
  },
  permissions: { read: ["."] },
  async run({ path }) {
    using file = await Deno.open(path);
    const buffer = new Uint8Array(MAX_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = await file.read(buffer.subarray(length));
      if (read === null) break;
      length += read;
    }
    const text = new TextDecoder().decode(buffer.subarray(0, Math.min(length, MAX_BYTES)));
    return length > MAX_BYTES
      ? `${text}\n[truncated: the file is longer than ${MAX_BYTES} bytes]`
      : text;
  },
});
