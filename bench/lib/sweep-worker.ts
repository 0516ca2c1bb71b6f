// One "Lambda container": parses the config, builds the clients and runs `runs` sweeps in a
// row, exactly as functions/approver.ts does per invocation (resolveClusters, then runSweep),
// measuring each. Writes the SweepWorkerOutput to <job file>.out.json.
import { writeFileSync } from "node:fs";
import { resolveClusters } from "../../functions/sweep/clusters.js";
import { runSweep } from "../../functions/sweep/sweep.js";
import { countConnections } from "./instrument.js";
import { workerContext } from "./worker-context.js";
import type { SweepRunResult, SweepWorkerOutput } from "./job.js";

const jobFile = process.argv[2] ?? "";
const { job, config, aws, alerts, kube, warnings, log } = workerContext(jobFile);
const connections = countConnections();

const initMs = performance.now();
const runs: SweepRunResult[] = [];
for (let run = 0; run < job.runs; run++) {
  kube.reset();
  aws.calls.reset();
  connections.reset();
  warnings.length = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const targets = await resolveClusters(config, aws, log);
  const report = await runSweep({ config, aws, alerts, log, kube: kube.factory, targets });
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  runs.push({
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: process.memoryUsage().heapUsed,
    kube: Object.fromEntries(kube.byCluster),
    aws: aws.calls.byCommand(),
    connections: { tcp: connections.tcp, tls: connections.tls },
    totals: report.totals,
    clusters: report.clusters.map((c) => ({
      cluster: c.cluster,
      status: c.status,
      ...(c.error ? { error: c.error } : {}),
      listed: c.listed,
      pending: c.pending,
      notExamined: c.notExamined,
      nodeFloods: c.nodeFloods,
      ...(c.approvalLimit !== undefined ? { approvalLimit: c.approvalLimit } : {}),
      floodGuardTripped: c.floodGuardTripped,
      alertsSent: c.alertsSent,
      audited: c.audited,
      auditDeferred: c.auditDeferred,
      csrs: c.csrs.map((o) => ({
        name: o.name,
        ...(o.node !== undefined ? { node: o.node } : {}),
        ...(o.requester !== undefined ? { requester: o.requester } : {}),
        ...(o.instanceId !== undefined ? { instanceId: o.instanceId } : {}),
        action: o.action,
        decision: o.decision,
        reasons: o.reasons.map((r) => r.code),
        ...(o.alert ? { alert: o.alert } : {}),
        ...(o.delivery ? { delivery: o.delivery } : {}),
        ...(o.audit ? { audit: o.audit } : {}),
        ...(o.error ? { error: o.error } : {}),
      })),
    })),
    warnings: [...warnings],
  });
}
aws.destroy();
const output: SweepWorkerOutput = { initMs, runs };
// A file, written synchronously: a large result on a pipe could be cut off by process.exit.
writeFileSync(`${jobFile}.out.json`, JSON.stringify(output));
// Sockets kept alive by the Kubernetes client would hold the process open for seconds.
process.exit(0);
