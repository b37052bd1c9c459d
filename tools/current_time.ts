import { defineTool } from "../src/tool.ts";

/** The current date and time, optionally in a given IANA time zone. No permissions. */
export default defineTool<{ timeZone?: string }>({
  name: "current_time",
  description:
    "Returns the current date and time (ISO 8601 UTC, and local time in an optional IANA time zone).",
  inputSchema: {
    type: "object",
    properties: {
      timeZone: {
        type: "string",
        description: 'IANA time zone, e.g. "Europe/Paris". Default: UTC.',
      },
    },
    additionalProperties: false,
  },
  run({ timeZone = "UTC" }) {
    const now = new Date();
    const local = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      dateStyle: "full",
      timeStyle: "long",
    }).format(now);
    return { iso: now.toISOString(), timeZone, local };
  },
});
