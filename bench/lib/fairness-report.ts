// The fairness results (bench/results/fairness.{md,json}): data, targets and rendering.
import type { FloodResult, ReplayResult, RotationResult } from "../fairness.js";
import type { Target } from "./report.js";

export interface FairnessResult {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; platform: string };
  /** 1-minute load average before the scenarios and after each. */
  loadAverage1m: number[];
  uptime: string;
  rotation: RotationResult[];
  flood: FloodResult[];
  replay: ReplayResult;
  targets: Target[];
}

export const FAIRNESS_TARGET = {
  rotationSweeps: 10, // SPEC §6: a full rotation within 10 minutes at one sweep a minute
  lambdaTimeoutMs: 300_000,
  scheduleMs: 60_000,
  messagesPerCluster: 25,
  peakRssBytes: 256 * 1024 * 1024,
};

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const int = (value: number) => Math.round(value).toLocaleString("en-US");

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function evaluateFairnessTargets(r: FairnessResult, _plan?: unknown): Target[] {
  const t = FAIRNESS_TARGET;
  const targets: Target[] = [];
  for (const rot of r.rotation) {
    const counted = rot.sweeps.filter((x) => !x.timedOut);
    const done = scheduledCompletionMs(
      rot.sweeps.map((x) => x.wallMs),
      t.scheduleMs,
    );
    targets.push({
      id: `rotation-sweeps-${rot.nodes}`,
      what: `fleet rotation: ${int(rot.nodes)} CSRs in one cluster all approved, default settings`,
      target: `≤ ${t.rotationSweeps} sweeps and ≤ 10 min on the one-minute schedule`,
      measured: rot.allApproved
        ? `${rot.sweepsNeeded} sweeps, the last approval ${s(done)} after the first sweep starts`
        : `not all approved: stopped after ${rot.sweeps.length} sweep(s)${
            rot.sweeps.some((x) => x.timedOut) ? ", the last killed at the 300 s Lambda timeout" : ""
          }`,
      met: rot.allApproved && rot.sweepsNeeded <= t.rotationSweeps && done <= t.rotationSweeps * t.scheduleMs,
    });
    const slowest = Math.max(...rot.sweeps.map((x) => x.wallMs));
    targets.push({
      id: `rotation-sweep-time-${rot.nodes}`,
      what: `fleet rotation of ${int(rot.nodes)}: the slowest sweep`,
      target: `≤ ${t.lambdaTimeoutMs / 1000} s (Lambda timeout)`,
      measured: !rot.allApproved
        ? `not shown: the rotation did not go through (slowest sweep ${s(slowest)}, approving ${Math.min(
            ...rot.sweeps.map((x) => x.approved),
          )})`
        : counted.length === rot.sweeps.length
          ? `${s(slowest)} (${slowest <= t.scheduleMs ? "within" : "over"} the 60 s schedule; CPU ${s(
              Math.max(...rot.sweeps.map((x) => x.cpuMs)),
            )})`
          : `killed at ${s(slowest)} after ${s(Math.max(...rot.sweeps.map((x) => x.cpuMs)))} of CPU`,
      // Only a rotation that went through shows its sweeps' time: a sweep that approved
      // nothing (facts unavailable) is fast for the wrong reason.
      met: rot.allApproved && counted.length === rot.sweeps.length && slowest <= t.lambdaTimeoutMs,
    });
  }
  for (const f of r.flood) {
    const first = f.sweeps[0];
    if (!first) continue;
    const variant = f.attackersHoldCertificate ? "attackers hold a certificate" : "attackers hold none";
    targets.push({
      id: `flood-legit-${f.attackersHoldCertificate ? "certified" : "new"}`,
      what: `flood (${variant}): legitimate nodes approved in the first sweep`,
      target: `all ${f.legit}`,
      measured: `${first.legitApproved} of ${f.legit}`,
      met: first.legitApproved === f.legit,
    });
    targets.push({
      id: `flood-hostile-${f.attackersHoldCertificate ? "certified" : "new"}`,
      what: `flood (${variant}): hostile CSRs approved per sweep`,
      target: "none, beyond one self-valid per attacker instance",
      measured: f.sweeps
        .map(
          (x, i) =>
            `sweep ${i + 1}: ${x.selfValidApproved} self-valid (max ${x.selfValidApprovedPerAttackerMax} per attacker), 0 neighbour-IP`,
        )
        .join("; "),
      met: f.sweeps.every((x) => x.selfValidApprovedPerAttackerMax <= 1),
    });
    const worst = Math.max(...f.sweeps.map((x) => x.messages));
    targets.push({
      id: `flood-messages-${f.attackersHoldCertificate ? "certified" : "new"}`,
      what: `flood (${variant}): SNS messages per cluster and sweep`,
      target: `≤ ${t.messagesPerCluster}`,
      measured: f.sweeps.map((x, i) => `sweep ${i + 1}: ${x.messages}`).join(", "),
      met: worst <= t.messagesPerCluster,
    });
  }
  const big = r.replay.runs[r.replay.runs.length - 1];
  if (big)
    targets.push({
      id: "replay-rss",
      what: `peak RSS of a sweep over ${int(r.replay.total)} CSRs, ${int(r.replay.decided)} decided`,
      target: `≤ ${mb(t.peakRssBytes)}`,
      measured: mb(big.peakRssBytes),
      met: big.peakRssBytes <= t.peakRssBytes,
    });
  return targets;
}

/**
 * When the last of these sweeps ends if one starts every `periodMs` and none overlaps (the
 * approver has reserved concurrency 1, so a scheduled event waits for the running sweep).
 */
export function scheduledCompletionMs(wallMs: number[], periodMs = 60_000): number {
  let end = 0;
  for (const [i, wall] of wallMs.entries()) end = Math.max(i * periodMs, end) + wall;
  return end;
}

export function renderFairnessMarkdown(r: FairnessResult): string {
  const out: string[] = [];
  const met = r.targets.filter((t) => t.met).length;
  out.push("# csr-approver benchmark results: fairness and budgets");
  out.push("");
  out.push(
    `Run ${r.startedAt} → ${r.finishedAt} with \`npm run bench\`${r.quick ? " --quick" : ""} (or \`-- --only-fairness\`) on ` +
      `${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB RAM, Node ${r.machine.node}. ` +
      `Default settings throughout (\`maxApprovalsPerSweep: auto\`, \`maxPendingPerNode: 20\`, \`maxAlertsPerSweep: 20\`, ` +
      `repeat window 1 h); each sweep in a fresh worker process, like a cold Lambda container. The machine was shared ` +
      `with other work: 1-minute load average ${r.loadAverage1m.map((v) => v.toFixed(1)).join(" → ")} on ` +
      `${r.machine.cpus} cores (\`${r.uptime}\` at the end), so wall times are pessimistic. Method and findings: ` +
      `[docs/benchmarks.md](../../docs/benchmarks.md), rules: [docs/fairness.md](../../docs/fairness.md).`,
  );
  out.push("");
  out.push(
    "Every decision was checked against the apiserver (or the replay server's record of writes), and every " +
      "denial's alert delivery (own alert, repeat, or summary) against the messages that reached the queue. A run " +
      "with any wrong decision is not reported.",
  );
  out.push("");
  out.push(`## Targets: ${met} of ${r.targets.length} met`);
  out.push("");
  out.push(
    table(
      ["", "target", "goal", "measured"],
      r.targets.map((t) => [t.met ? "met" : "**MISSED**", t.what, t.target, t.measured]),
    ),
  );
  out.push("");

  for (const rot of r.rotation) {
    out.push(`## A. Fleet rotation: ${int(rot.nodes)} nodes of one cluster renew at once`);
    out.push("");
    out.push(
      `${int(rot.nodes)} EC2 instances in moto, a Node object per instance (with its providerID, so \`auto\` sizes ` +
        `the limit from ${int(rot.nodes)} nodes), and one kubelet CSR per node created as that node. Sweeps run one ` +
        `after another until every CSR is approved. Every node starts without an issued certificate (the rig's ` +
        `signer issues each one once it is approved), so all count as "without a certificate" and the order is oldest first. Set-up (not product time): ` +
        `${rot.setup.seedSeconds.toFixed(0)} s seeding instances, ${rot.setup.nodeObjectsSeconds.toFixed(0)} s Node ` +
        `objects, ${rot.setup.mintSeconds.toFixed(0)} s node certificates, ${rot.setup.csrSeconds.toFixed(0)} s CSRs.`,
    );
    out.push("");
    out.push(
      table(
        [
          "sweep",
          "pending",
          "limit",
          "approved",
          "flood-guarded",
          "wall",
          "CPU",
          "peak RSS",
          "EC2 calls",
          "SNS",
        ],
        rot.sweeps.map((x, i) =>
          x.timedOut
            ? [
                `${i + 1}: killed at the 300 s Lambda timeout`,
                "?",
                "?",
                "?",
                "?",
                s(x.wallMs),
                s(x.cpuMs),
                mb(x.peakRssBytes),
                "?",
                "?",
              ]
            : [
                i + 1,
                int(x.pending),
                int(x.approvalLimit),
                int(x.approved),
                int(x.floodGuarded),
                s(x.wallMs),
                s(x.cpuMs),
                mb(x.peakRssBytes),
                `${x.ec2DescribeInstances} (${x.ec2Attempts})`,
                `${x.messages} ${JSON.stringify(x.alertKinds)}`,
              ],
        ),
      ),
    );
    out.push("");
    const probe = rot.defaultTimeoutProbe;
    if (probe)
      out.push(
        `The sweeps above ran with a ${rot.awsRequestTimeoutMs / 1000} s AWS request timeout. The first sweep, run ` +
          `with the product's default of 10 s, ${
            probe.ec2TimedOut
              ? `timed out on EC2: moto took longer than 10 s to answer the ${probe.ec2DescribeInstances} ` +
                `DescribeInstances calls the sweep sends at once (${probe.ec2Attempts} attempts with retries), so ` +
                `every CSR waited (${int(probe.approved)} approved, ${s(probe.wallMs)} wall, ${mb(probe.peakRssBytes)} peak RSS)`
              : `answered in time (${int(probe.approved)} approved, ${s(probe.wallMs)} wall)`
          }; ${probe.counted ? "it is counted as sweep 1" : "it is not counted above"}.`,
      );
    out.push("");
    out.push(
      `${rot.allApproved ? `All ${int(rot.nodes)} approved in ${rot.sweepsNeeded} sweeps` : "NOT all approved"}; ` +
        `the sweeps took ${s(rot.totalSweepWallMs)} of wall time together. On the one-minute schedule, where a ` +
        `sweep that runs past the minute delays the next (reserved concurrency 1), the last approval lands ` +
        `${s(scheduledCompletionMs(rot.sweeps.map((x) => x.wallMs)))} after the first sweep starts. ` +
        `Peak RSS ${mb(rot.peakRssBytes)}.`,
    );
    out.push("");
  }

  out.push("## B. 1,000 hostile CSRs beside 100 legitimate nodes");
  out.push("");
  const f0 = r.flood[0];
  if (f0)
    out.push(
      `${f0.attackers} attacking nodes each create ${int((f0.hostile.neighbourIp + f0.hostile.selfValidDuplicates) / f0.attackers)} ` +
        `CSRs before anyone else: half ask for a legitimate neighbour's IP (must be denied), half are valid for the ` +
        `attacker itself and named \`0000-…\` to sort first. Then ${f0.legit} legitimate nodes file one CSR each. ` +
        `Two variants: the attackers are compromised nodes that already hold an issued certificate (approved, then ` +
        `issued by the rig's kube-controller-manager signer), or new nodes holding none (the hardest case for the order: their CSRs ` +
        `are older than everyone's and they are not "certified"). No Node objects: \`auto\` is at its floor of 100.`,
    );
  out.push("");
  out.push(
    table(
      [
        "variant",
        "sweep",
        "legitimate approved (so far)",
        "self-valid duplicates approved (max per attacker)",
        "neighbour-IP denied",
        "pending / not examined",
        "flood-guarded",
        "SNS messages",
        "wall",
      ],
      r.flood.flatMap((f) =>
        f.sweeps.map((x, i) => [
          f.attackersHoldCertificate ? "attackers hold a certificate" : "attackers hold none",
          i + 1,
          `${x.legitApproved} (${x.legitApprovedSoFar})`,
          `${x.selfValidApproved} (${x.selfValidApprovedPerAttackerMax})`,
          x.hostileDenied,
          `${int(x.pending)} / ${int(x.notExamined)}`,
          x.floodGuarded,
          `${x.messages} ${JSON.stringify(x.alertKinds)}`,
          s(x.wallMs),
        ]),
      ),
    ),
  );
  out.push("");

  const rp = r.replay;
  out.push(`## C. ${int(rp.total)} CSRs, ${int(rp.decided)} decided: memory of one sweep`);
  out.push("");
  out.push(
    `The LIST is served by a local HTTPS stand-in (bench/lib/replay-server.ts) that replays CSR JSON captured from ` +
      `the rig's real kube-apiserver: ${rp.templates.decidedApprovedIssued} CSRs approved by a real sweep and then ` +
      `issued by the rig's kube-controller-manager signer, ${rp.templates.decidedDenied} denied by it (with alert markers), and ` +
      `${rp.templates.pending} pending kubelet CSRs of nodes that exist in moto (about ${int(rp.capturedBytesPerItem)} ` +
      `bytes of JSON each). Clones differ only in name, uid, resourceVersion and creationTimestamp; pages of ` +
      `${rp.pageSize} with \`limit\`/\`continue\` in name order, as the apiserver serves them; approval PUTs are ` +
      `answered 200 with the object. ${int(rp.pending)} pending from ${rp.pendingNodes} nodes (4 each: a kubelet ` +
      `that filed again).`,
  );
  out.push("");
  out.push(
    table(
      [
        "listing",
        "items",
        "pages",
        "JSON served",
        "pending",
        "approved",
        "writes",
        "EC2 calls",
        "wall",
        "CPU",
        "peak RSS",
      ],
      rp.runs.map((x) => [
        x.label,
        int(x.items),
        x.serverPages,
        `${(x.serverBytes / 2 ** 20).toFixed(0)} MiB`,
        int(x.pending),
        x.approved,
        x.writes,
        x.ec2DescribeInstances,
        s(x.wallMs),
        s(x.cpuMs),
        mb(x.peakRssBytes),
      ]),
    ),
  );
  out.push("");
  return `${out.join("\n")}\n`;
}
