// Event mode in its own process, as the Lambda runs it after an EC2 "running" event:
// resolveClusters, then watchClusters for `windowMs`. Prints {"event":"watching"} once the
// watches are being opened, and a summary line when the window ends or on SIGTERM.
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { watchClusters } from "../../functions/sweep/watch.js";
import { workerContext } from "./worker-context.js";

const { job, config, aws, alerts, kube, warnings, log } = workerContext(process.argv[2] ?? "");
const cpu0 = process.cpuUsage();

function summary(): void {
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      event: "done",
      cpuMs: (cpu.user + cpu.system) / 1000,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      kube: Object.fromEntries(kube.byCluster),
      aws: aws.calls.byCommand(),
      warnings,
    })}\n`,
  );
}

process.once("SIGTERM", () => {
  summary();
  process.exit(0);
});

const resolved = await resolveClusters(config, aws, log);
process.stdout.write(`${JSON.stringify({ event: "watching", clusters: resolved.targets.length })}\n`);
// Each sweep lists once: the kube list counts say how many sweeps the events started.
await watchClusters(
  resolved.targets,
  { config, aws, alerts, log, kube: kube.factory },
  { windowMs: job.windowMs ?? 60_000, reconnectDelayMs: 200 },
);
summary();
process.exit(0);
