export default {
  name: "noop",
  description: "Returns at once.",
  inputSchema: { type: "object", properties: {} },
  run: () => "ok",
};
