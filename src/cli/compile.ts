/**
 * `deno task compile [deno compile flags]`: builds the single binary
 * `dist/agent-runtime` from `src/cli/binary.ts`, with what deno.json's
 * `compile.include` lists (the worker entries and the built-in tools)
 * embedded and its unstable features on.
 *
 * @module
 */

/** The binary's entry. */
export const BINARY_ENTRY: URL = new URL("./binary.ts", import.meta.url);

/** Where the binary is written unless `--output` says otherwise. */
const OUTPUT = new URL("../../dist/agent-runtime", import.meta.url).pathname;

if (import.meta.main) {
  const output = Deno.args.includes("--output") ? [] : ["--output", OUTPUT];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "--allow-all", ...output, ...Deno.args, BINARY_ENTRY.pathname],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(stderr);
  const denort = said.match(/https:\/\/\S+\/(denort-[\w-]+\.zip)/);
  if (code !== 0 && denort && !Deno.env.get("DENORT_BIN")) {
    console.error(
      `error: deno compile needs the denort runtime and could not download ${denort[0]}; get ${
        denort[1]
      } where you can, unzip it, and run DENORT_BIN=/path/to/denort deno task compile`,
    );
  } else await Deno.stderr.write(stderr);
  Deno.exit(code);
}
