/**
 * A Deno KV store that counts the bytes of the values it hands out: for
 * tests that a read takes only what it needs.
 *
 * @module
 */

/** A KV store that counts the bytes of the values it hands out. */
export function countingKv(kv: Deno.Kv): { kv: Deno.Kv; bytesRead: () => number } {
  let bytes = 0;
  const count = (value: unknown) =>
    bytes += value instanceof Uint8Array ? value.length : JSON.stringify(value ?? null).length;
  const proxy = new Proxy(kv, {
    get(target, name) {
      if (name === "list") {
        return async function* (...args: Parameters<Deno.Kv["list"]>) {
          for await (const entry of target.list(...args)) {
            count(entry.value);
            yield entry;
          }
        };
      }
      if (name === "get" || name === "getMany") {
        return async (...args: unknown[]) => {
          const found = await (target[name] as (...args: unknown[]) => Promise<unknown>)(...args);
          for (const entry of [found].flat()) count((entry as Deno.KvEntryMaybe<unknown>).value);
          return found;
        };
      }
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kv: proxy, bytesRead: () => bytes };
}
