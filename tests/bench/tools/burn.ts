export default {
  name: "burn",
  description: "Keeps the CPU busy for `ms` milliseconds (a CPU-bound tool).",
  inputSchema: { type: "object", properties: { ms: { type: "number" } }, required: ["ms"] },
  run: ({ ms }: { ms: number }) => {
    const end = performance.now() + ms;
    let n = 0;
    while (performance.now() < end) n++;
    return n;
  },
};
