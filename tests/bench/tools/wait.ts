export default {
  name: "wait",
  description: "Waits `ms` milliseconds without using the CPU (an I/O-bound tool).",
  inputSchema: { type: "object", properties: { ms: { type: "number" } }, required: ["ms"] },
  run: ({ ms }: { ms: number }) =>
    new Promise((resolve) => setTimeout(() => resolve("waited"), ms)),
};
