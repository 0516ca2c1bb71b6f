// Run in a fresh `node` by the cold-start benchmark: imports one Lambda bundle (with the
// function's environment already set by the parent) and reports how long the import took,
// i.e. loading, compiling and running the module's top-level init, up to the point where
// `handler` is exported. Prints one JSON line.
import { pathToFileURL } from "node:url";

const bundle = process.argv[2];
if (!bundle) throw new Error("usage: load-bundle.mjs <bundle.mjs>");
const cpu = process.cpuUsage();
const started = performance.now();
const module = await import(pathToFileURL(bundle).href);
const loaded = performance.now();
const used = process.cpuUsage(cpu);
if (typeof module.handler !== "function") {
  process.stderr.write(`${bundle} exports no handler function\n`);
  process.exit(3);
}
process.stdout.write(
  `${JSON.stringify({
    importMs: loaded - started,
    // CPU time of the import: less sensitive than wall time to other load on the machine.
    importCpuMs: (used.user + used.system) / 1000,
    // performance.now() counts from the process's time origin: Node's own start-up included.
    sinceProcessStartMs: loaded,
    rssBytes: process.memoryUsage().rss,
  })}\n`,
);
process.exit(0);
