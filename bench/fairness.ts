// The fairness scenarios of `npm run bench` (issue 10, SPEC §6 "Fairness and budgets"), all
// with the DEFAULT settings (maxApprovalsPerSweep auto, maxPendingPerNode 20,
// maxAlertsPerSweep 20), each sweep in a fresh worker process like a Lambda container:
//
//   A. fleet rotation: 5,000 nodes of one cluster file a CSR at once; sweeps until all approved
//   B. a flood of 1,000 hostile CSRs from a few nodes beside 100 legitimate nodes
//   C. peak RSS of a sweep over 100,000 CSRs of which 99,000 are decided (replayed LIST)
//
// Wrong decisions are reported through `problem` (the run is then refused); missed targets
// are results.
import { CreateSubnetCommand } from "@aws-sdk/client-ec2";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { putSecret, type AlertSink, type AwsClients } from "../test/rig/aws-seed.js";
import type { RigCluster } from "../test/rig/cluster.js";
import { createArbitraryCsr } from "../test/rig/kubelet.js";
import { createNodeObject, deleteAllNodes, approveAndAwaitIssue, rawCsrList } from "./lib/admin-http.js";
import { checkAlertDelivery, drainDelivered, type ClusterAlertTally } from "./lib/alert-check.js";
import type { SweepRunResult, SweepWorkerOutput } from "./lib/job.js";
import { startReplayServer, type ReplayItem, type ReplayTemplate } from "./lib/replay-server.js";
import {
  createPlannedCsr,
  deleteAllCsrs,
  eachBounded,
  mintNodeIdentities,
  seedInstances,
  storedDecisions,
  type PlannedCsr,
  type PoolInstance,
} from "./lib/world.js";

export interface FairWorld {
  clients: AwsClients;
  subnetId: string;
  clusters: RigCluster[];
  vpcId: string;
  secretArns: string[];
  alerts: AlertSink;
  pool: PoolInstance[];
}

export interface FairnessDeps {
  world: FairWorld;
  /** One sweep in a fresh worker process over this config document. */
  sweep(
    config: Record<string, unknown>,
    options?: { awsRequestTimeoutMs?: number; timeoutMs?: number },
  ): Promise<SweepWorkerOutput>;
  /** The config document for these rig clusters with the default settings. */
  config(entries: { name: string; clusterIndex: number }[]): Record<string, unknown>;
  progress(message: string): void;
  problem(message: string): void;
}

export interface SweepFigures {
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  workerInitMs: number;
  listed: number;
  pending: number;
  notExamined: number;
  approvalLimit: number;
  approved: number;
  denied: number;
  floodGuarded: number;
  held: number;
  messages: number;
  alertKinds: Record<string, number>;
  ec2DescribeInstances: number;
  /** HTTP attempts of those calls (retries after timeouts or throttling included). */
  ec2Attempts: number;
  listPages: number;
  warnings: number;
  /** Killed at the Lambda timeout (only wall, CPU and peak RSS are known). */
  timedOut?: boolean;
}

/**
 * The rotation's sweeps run with a 60 s AWS request timeout instead of the product's 10 s: on
 * this machine moto needs more than 10 s to answer the sweep's 50 concurrent 200-value
 * DescribeInstances filters over 5,000 instances (EC2 answers such a call in about a second).
 * With the default the first sweep's lookups time out and every CSR waits (docs/benchmarks.md).
 */
export const ROTATION_AWS_TIMEOUT_MS = 60_000;

/** serverless.yml's approver timeout: a sweep still running then is killed, as Lambda would. */
export const LAMBDA_TIMEOUT_MS = 300_000;

export interface RotationResult {
  nodes: number;
  setup: { seedSeconds: number; nodeObjectsSeconds: number; mintSeconds: number; csrSeconds: number };
  sweeps: SweepFigures[];
  /** The first sweep, with the product's default AWS request timeout; counted only if it approved. */
  defaultTimeoutProbe?: SweepFigures & { ec2TimedOut: boolean; counted: boolean };
  awsRequestTimeoutMs: number;
  sweepsNeeded: number;
  allApproved: boolean;
  totalSweepWallMs: number;
  peakRssBytes: number;
}

export interface FloodResult {
  legit: number;
  attackers: number;
  hostile: { neighbourIp: number; selfValidDuplicates: number };
  attackersHoldCertificate: boolean;
  setupSeconds: number;
  sweeps: (SweepFigures & {
    legitApproved: number;
    legitApprovedSoFar: number;
    selfValidApproved: number;
    selfValidApprovedPerAttackerMax: number;
    hostileDenied: number;
  })[];
}

export interface ReplayResult {
  total: number;
  decided: number;
  pending: number;
  pendingNodes: number;
  templates: { decidedApprovedIssued: number; decidedDenied: number; pending: number };
  capturedBytesPerItem: number;
  pageSize: number;
  runs: (SweepFigures & {
    label: string;
    items: number;
    serverPages: number;
    serverBytes: number;
    writes: number;
  })[];
}

const CREATE_CONCURRENCY = 8;

function timer() {
  const t0 = performance.now();
  return () => (performance.now() - t0) / 1000;
}

function figuresOf(out: SweepWorkerOutput, run: SweepRunResult, tallies: ClusterAlertTally[]): SweepFigures {
  const c = run.clusters;
  const count = (action: string) =>
    c.reduce((n, x) => n + x.csrs.filter((o) => o.action === action).length, 0);
  const alertKinds: Record<string, number> = {};
  for (const t of tallies)
    for (const [k, v] of Object.entries(t.byKind)) alertKinds[k] = (alertKinds[k] ?? 0) + v;
  return {
    wallMs: run.wallMs,
    cpuMs: run.cpuMs,
    peakRssBytes: run.peakRssBytes,
    workerInitMs: out.initMs,
    listed: c.reduce((n, x) => n + x.listed, 0),
    pending: c.reduce((n, x) => n + x.pending, 0),
    notExamined: c.reduce((n, x) => n + x.notExamined, 0),
    approvalLimit: c.reduce((n, x) => n + (x.approvalLimit ?? 0), 0),
    approved: count("approved"),
    denied: count("denied"),
    floodGuarded: count("flood-guarded"),
    held: count("held"),
    messages: tallies.reduce((n, t) => n + t.messages, 0),
    alertKinds,
    ec2DescribeInstances: run.aws["ec2:DescribeInstances"]?.calls ?? 0,
    ec2Attempts: run.aws["ec2:DescribeInstances"]?.attempts ?? 0,
    listPages: Object.values(run.kube).reduce((n, k) => n + k.listPages, 0),
    warnings: run.warnings.length,
  };
}

async function sweepOnce(
  d: FairnessDeps,
  label: string,
  config: Record<string, unknown>,
  freshHistory: boolean,
  options: { awsRequestTimeoutMs?: number } = {},
): Promise<{ run: SweepRunResult; figures: SweepFigures }> {
  const out = await d.sweep(config, { ...options, timeoutMs: LAMBDA_TIMEOUT_MS });
  const run = out.runs[0];
  if (!run) throw new Error(`${label}: the sweep worker returned no run`);
  if (run.timedOut) {
    // Killed as Lambda would kill it: what it published before is drained, not checked.
    d.progress(`${label}: still running after ${LAMBDA_TIMEOUT_MS / 1000} s (the Lambda timeout): killed`);
    await drainDelivered(d.world.alerts);
    return { run, figures: { ...figuresOf(out, run, []), timedOut: true } };
  }
  for (const c of run.clusters)
    if (c.status !== "ok") d.problem(`${label}: cluster ${c.cluster} ${c.status}: ${c.error}`);
  for (const warning of run.warnings) d.progress(`  sweep warning: ${warning.slice(0, 300)}`);
  const delivered = await drainDelivered(d.world.alerts);
  const tallies = checkAlertDelivery(label, run, delivered, freshHistory, d.problem);
  return { run, figures: figuresOf(out, run, tallies) };
}

/** Approvals: at most one per instance, and never above the sweep's limit. */
function checkApprovalBounds(d: FairnessDeps, label: string, run: SweepRunResult): void {
  for (const c of run.clusters) {
    const approved = c.csrs.filter((o) => o.action === "approved");
    if (c.approvalLimit !== undefined && approved.length > c.approvalLimit)
      d.problem(`${label}: ${approved.length} approvals above the limit ${c.approvalLimit}`);
    const perInstance = new Map<string, number>();
    for (const o of approved)
      perInstance.set(o.instanceId ?? o.name, (perInstance.get(o.instanceId ?? o.name) ?? 0) + 1);
    for (const [instance, n] of perInstance)
      if (n > 1) d.problem(`${label}: instance ${instance} approved ${n} times in one sweep`);
  }
}

async function reset(d: FairnessDeps): Promise<void> {
  for (const cluster of d.world.clusters) {
    await deleteAllCsrs(cluster);
    await deleteAllNodes(cluster);
  }
  await drainDelivered(d.world.alerts);
}

let extraSubnets = 0;

/** Grows the moto pool to at least n instances. */
export async function ensurePool(d: FairnessDeps, n: number): Promise<number> {
  const missing = n - d.world.pool.length;
  if (missing <= 0) return 0;
  const elapsed = timer();
  d.progress(`moto: seeding ${missing} more EC2 instances (pool of ${n})`);
  // A /20 holds 4,091 instances: the extra ones go to subnets of their own in the same VPC.
  let subnetId = d.world.subnetId;
  if (d.world.pool.length + missing > 4000) {
    const third = 16 * (extraSubnets + 1);
    extraSubnets += 1;
    const { Subnet } = await d.world.clients.ec2.send(
      new CreateSubnetCommand({
        VpcId: d.world.vpcId,
        CidrBlock: `10.20.${third}.0/20`,
        AvailabilityZone: "us-east-1a",
      }),
    );
    if (!Subnet?.SubnetId) throw new Error("moto created no subnet");
    subnetId = Subnet.SubnetId;
  }
  if (missing > 4000) throw new Error(`ensurePool: ${missing} instances do not fit one /20 subnet`);
  const seeded = await seedInstances(d.world.clients, {
    subnetId,
    count: missing,
    batch: 100,
    progress: (message) => {
      if (/\d+00\//.test(message) && Number(/(\d+)\//.exec(message)?.[1]) % 1000 === 0) d.progress(message);
    },
  });
  d.world.pool.push(...seeded.instances);
  return elapsed();
}

async function mint(d: FairnessDeps, cluster: RigCluster, nodes: string[]): Promise<number> {
  const elapsed = timer();
  await mintNodeIdentities(cluster, nodes, (done) => {
    if (done % 500 === 0) d.progress(`${cluster.name}: ${done}/${nodes.length} node certificates minted`);
  });
  return elapsed();
}

/** A node's own kubelet CSR, valid for its instance: expected to be approved. */
const legitPlan = (instance: PoolInstance): PlannedCsr => ({
  kind: "legit",
  clusterIndex: 0,
  instance,
  other: instance,
  expected: "Approved",
  expectedCode: "ALL_CHECKS_PASSED",
});

// ---------------------------------------------------------------------------------------
// A. Fleet rotation

export async function fleetRotation(
  d: FairnessDeps,
  size: number,
  maxSweeps: number,
): Promise<RotationResult> {
  const label = `rotation of ${size} nodes`;
  d.progress(`${label}: preparing (one cluster, default settings)`);
  await reset(d);
  const seedSeconds = await ensurePool(d, size);
  const cluster = d.world.clusters[0] as RigCluster;
  const nodes = d.world.pool.slice(0, size);

  // The cluster's Node objects: the `auto` limit is sized from them, as on a real cluster.
  let elapsed = timer();
  let done = 0;
  await eachBounded(nodes, CREATE_CONCURRENCY, async (instance) => {
    await createNodeObject(cluster, instance.node, instance.instanceId);
    if (++done % 1000 === 0) d.progress(`${label}: ${done}/${size} Node objects registered`);
  });
  const nodeObjectsSeconds = elapsed();
  const mintSeconds = await mint(
    d,
    cluster,
    nodes.map((n) => n.node),
  );
  elapsed = timer();
  const plan: PlannedCsr[] = nodes.map(legitPlan);
  done = 0;
  await eachBounded(plan, CREATE_CONCURRENCY, async (csr) => {
    csr.name = await createPlannedCsr(cluster, csr);
    if (++done % 500 === 0) d.progress(`${label}: ${done}/${size} CSRs created`);
  });
  const csrSeconds = elapsed();
  d.progress(
    `${label}: set-up: ${nodeObjectsSeconds.toFixed(0)} s Node objects, ${mintSeconds.toFixed(0)} s node certificates, ` +
      `${csrSeconds.toFixed(0)} s CSRs; sweeping`,
  );

  const config = d.config([{ name: "rig-1", clusterIndex: 0 }]);
  const sweeps: SweepFigures[] = [];
  let allApproved = false;
  const names = new Set(plan.map((p) => p.name));
  let probe: RotationResult["defaultTimeoutProbe"];
  for (let i = 0; i <= maxSweeps && !allApproved; i++) {
    // Sweep 0 runs with the product's own AWS timeout: if moto is too slow for it and the
    // lookups time out, it is reported as a probe and not counted.
    const { run, figures } = await sweepOnce(
      d,
      i === 0 ? `${label}, probe with the default AWS timeout` : `${label}, sweep ${i}`,
      config,
      true,
      i === 0 ? {} : { awsRequestTimeoutMs: ROTATION_AWS_TIMEOUT_MS },
    );
    if (i === 0) {
      probe = {
        ...figures,
        ec2TimedOut: run.warnings.some((w) => w.includes("DescribeInstances failed")),
        counted: figures.approved > 0,
      };
      d.progress(
        `${label}: probe with the default 10 s AWS timeout: ${figures.approved} approved, EC2 lookups ` +
          `${probe.ec2TimedOut ? "timed out" : "answered"}; ${(figures.wallMs / 1000).toFixed(1)} s wall, ` +
          `${(figures.peakRssBytes / 2 ** 20).toFixed(0)} MB peak RSS`,
      );
      if (!probe.counted) continue;
    }
    checkApprovalBounds(d, `${label}, sweep ${i}`, run);
    for (const c of run.clusters)
      for (const o of c.csrs) {
        if (o.action === "denied")
          d.problem(`${label}, sweep ${i}: legitimate CSR ${o.name} denied (${o.reasons.join(",")})`);
        if (!names.has(o.name)) d.problem(`${label}, sweep ${i}: an outcome for unknown CSR ${o.name}`);
      }
    sweeps.push(figures);
    const stored = await storedDecisions(cluster);
    const approved = [...stored.values()].filter((s) => s === "Approved").length;
    const wrong = [...stored.values()].filter((s) => s === "Denied" || s === "Failed").length;
    if (wrong > 0)
      d.problem(`${label}, sweep ${i}: ${wrong} legitimate CSRs denied or failed on the apiserver`);
    allApproved = approved === size;
    d.progress(
      `${label}: sweep ${i}: ${figures.approved} approved (limit ${figures.approvalLimit}), ${approved}/${size} so far; ` +
        `${(figures.wallMs / 1000).toFixed(1)} s wall, ${(figures.cpuMs / 1000).toFixed(1)} s CPU, ` +
        `${(figures.peakRssBytes / 2 ** 20).toFixed(0)} MB peak RSS, ${figures.messages} SNS messages`,
    );
    if (figures.timedOut || (i > 0 && figures.approved === 0)) break; // stuck: report what is left
  }
  await deleteAllNodes(cluster);
  return {
    nodes: size,
    setup: { seedSeconds, nodeObjectsSeconds, mintSeconds, csrSeconds },
    sweeps,
    ...(probe ? { defaultTimeoutProbe: probe } : {}),
    awsRequestTimeoutMs: ROTATION_AWS_TIMEOUT_MS,
    sweepsNeeded: allApproved ? sweeps.length : Number.NaN,
    allApproved,
    totalSweepWallMs: sweeps.reduce((n, s) => n + s.wallMs, 0),
    peakRssBytes: Math.max(...sweeps.map((s) => s.peakRssBytes)),
  };
}

// ---------------------------------------------------------------------------------------
// B. Hostile flood beside legitimate nodes

export async function hostileFlood(
  d: FairnessDeps,
  options: {
    legit: number;
    attackers: number;
    perAttacker: number;
    attackersHoldCertificate: boolean;
    sweeps: number;
  },
): Promise<FloodResult> {
  const label = `flood (${options.attackersHoldCertificate ? "attackers hold a certificate" : "attackers hold none"})`;
  d.progress(
    `${label}: ${options.attackers} attacking nodes × ${options.perAttacker} CSRs beside ${options.legit} legitimate nodes`,
  );
  await reset(d);
  const elapsed = timer();
  const cluster = d.world.clusters[0] as RigCluster;
  const legit = d.world.pool.slice(0, options.legit);
  const attackers = d.world.pool.slice(options.legit, options.legit + options.attackers);
  await mint(
    d,
    cluster,
    [...legit, ...attackers].map((i) => i.node),
  );

  // A compromised node has been in the cluster a while: it holds an issued serving certificate.
  if (options.attackersHoldCertificate) {
    for (const attacker of attackers) {
      const name = await createPlannedCsr(cluster, legitPlan(attacker));
      await approveAndAwaitIssue(cluster, name);
    }
  }

  // Hostile first (older than everything legitimate): per attacker, half ask for a neighbour's
  // IP, half are valid for the attacker itself and named to sort before everyone.
  const neighbourIp = new Set<string>();
  const selfValid = new Map<string, string>(); // CSR name -> attacker node
  const jobs: { attacker: PoolInstance; index: number; a: number }[] = [];
  for (let j = 0; j < options.perAttacker; j++)
    for (const [a, attacker] of attackers.entries()) jobs.push({ attacker, index: j, a });
  let created = 0;
  await eachBounded(jobs, CREATE_CONCURRENCY, async ({ attacker, index, a }) => {
    if (index % 2 === 0) {
      const victim = legit[(a * options.perAttacker + index) % legit.length] as PoolInstance;
      const name = await createPlannedCsr(cluster, {
        kind: "other-ip",
        clusterIndex: 0,
        instance: attacker,
        other: victim,
        expected: "Denied",
        expectedCode: "IP_NOT_OWNED",
      });
      neighbourIp.add(name);
    } else {
      const name = `0000-${a}-${String(index).padStart(4, "0")}`;
      await createArbitraryCsr(cluster, {
        as: cluster.nodeCredentials(attacker.node),
        name,
        request: {
          commonName: `system:node:${attacker.node}`,
          organizations: ["system:nodes"],
          dnsNames: [attacker.node],
          ips: [attacker.privateIp],
        },
      });
      selfValid.set(name, attacker.node);
    }
    if (++created % 250 === 0) d.progress(`${label}: ${created}/${jobs.length} hostile CSRs created`);
  });
  const legitNames = new Set<string>();
  await eachBounded(legit, CREATE_CONCURRENCY, async (instance) => {
    legitNames.add(await createPlannedCsr(cluster, legitPlan(instance)));
  });
  const setupSeconds = elapsed();
  d.progress(
    `${label}: ${jobs.length} hostile + ${legit.length} legitimate CSRs created in ${setupSeconds.toFixed(0)} s`,
  );

  const config = d.config([{ name: "rig-1", clusterIndex: 0 }]);
  const sweeps: FloodResult["sweeps"] = [];
  const approvedSelfValid = new Set<string>();
  for (let i = 1; i <= options.sweeps; i++) {
    const sweepLabel = `${label}, sweep ${i}`;
    const { run, figures } = await sweepOnce(d, sweepLabel, config, i === 1);
    checkApprovalBounds(d, sweepLabel, run);
    const outcomes = run.clusters.flatMap((c) => c.csrs);
    for (const o of outcomes) {
      if (o.action === "approved" && neighbourIp.has(o.name))
        d.problem(`${sweepLabel}: hostile CSR ${o.name} approved`);
      if (o.action === "denied" && (legitNames.has(o.name) || selfValid.has(o.name)))
        d.problem(`${sweepLabel}: valid CSR ${o.name} denied (${o.reasons.join(",")})`);
      if (o.action === "denied" && neighbourIp.has(o.name) && !o.reasons.includes("IP_NOT_OWNED"))
        d.problem(`${sweepLabel}: ${o.name} denied with ${o.reasons.join(",")}, expected IP_NOT_OWNED`);
    }
    const stored = await storedDecisions(cluster);
    for (const name of neighbourIp)
      if (stored.get(name) === "Approved")
        d.problem(`${sweepLabel}: hostile CSR ${name} is Approved on the apiserver`);
    for (const name of legitNames)
      if (stored.get(name) === "Denied")
        d.problem(`${sweepLabel}: legitimate CSR ${name} is Denied on the apiserver`);
    const perAttacker = new Map<string, number>();
    for (const o of outcomes)
      if (o.action === "approved" && selfValid.has(o.name)) {
        approvedSelfValid.add(o.name);
        const node = selfValid.get(o.name) as string;
        perAttacker.set(node, (perAttacker.get(node) ?? 0) + 1);
      }
    const legitApproved = outcomes.filter((o) => o.action === "approved" && legitNames.has(o.name)).length;
    const legitApprovedSoFar = [...legitNames].filter((n) => stored.get(n) === "Approved").length;
    const storedSelfValid = [...selfValid.keys()].filter((n) => stored.get(n) === "Approved").length;
    if (storedSelfValid !== approvedSelfValid.size)
      d.problem(
        `${sweepLabel}: ${storedSelfValid} self-valid duplicates Approved on the apiserver, the sweeps approved ${approvedSelfValid.size}`,
      );
    const row = {
      ...figures,
      legitApproved,
      legitApprovedSoFar,
      selfValidApproved: perAttacker.size === 0 ? 0 : [...perAttacker.values()].reduce((a, b) => a + b, 0),
      selfValidApprovedPerAttackerMax: Math.max(0, ...perAttacker.values()),
      hostileDenied: outcomes.filter((o) => o.action === "denied" && neighbourIp.has(o.name)).length,
    };
    sweeps.push(row);
    d.progress(
      `${sweepLabel}: ${legitApproved}/${legit.length} legitimate approved (${legitApprovedSoFar} so far), ` +
        `${row.selfValidApproved} self-valid duplicates approved (max ${row.selfValidApprovedPerAttackerMax} per attacker), ` +
        `${row.hostileDenied} hostile denied, ${figures.messages} SNS messages ${JSON.stringify(figures.alertKinds)}, ` +
        `${(figures.wallMs / 1000).toFixed(1)} s wall`,
    );
  }
  return {
    legit: options.legit,
    attackers: options.attackers,
    hostile: { neighbourIp: neighbourIp.size, selfValidDuplicates: selfValid.size },
    attackersHoldCertificate: options.attackersHoldCertificate,
    setupSeconds,
    sweeps,
  };
}

// ---------------------------------------------------------------------------------------
// C. 100,000 CSRs, 99,000 decided: the LIST replayed from real apiserver JSON

export async function replaySweep(
  d: FairnessDeps,
  options: { total: number; pending: number; pendingNodes: number; approvedIssued: number; denied: number },
): Promise<ReplayResult> {
  const label = `replay of ${options.total} CSRs`;
  d.progress(`${label}: capturing real CSR JSON from the rig apiserver`);
  await reset(d);
  const cluster = d.world.clusters[0] as RigCluster;
  const nodes = d.world.pool.slice(0, options.pendingNodes);
  const decidedNodes = d.world.pool.slice(
    options.pendingNodes,
    options.pendingNodes + options.approvedIssued + options.denied,
  );
  await mint(
    d,
    cluster,
    [...nodes, ...decidedNodes].map((n) => n.node),
  );

  // Decided templates: legitimate CSRs approved by a real sweep, then issued by the rig's signer,
  // and hostile ones denied by the same sweep (with their alert markers).
  const decidedPlan: PlannedCsr[] = decidedNodes.map((instance, i) =>
    i < options.approvedIssued
      ? legitPlan(instance)
      : {
          kind: "other-ip",
          clusterIndex: 0,
          instance,
          other: decidedNodes[0] as PoolInstance,
          expected: "Denied",
          expectedCode: "IP_NOT_OWNED",
        },
  );
  await eachBounded(decidedPlan, CREATE_CONCURRENCY, async (csr) => {
    csr.name = await createPlannedCsr(cluster, csr);
  });
  const config = d.config([{ name: "rig-1", clusterIndex: 0 }]);
  const { run } = await sweepOnce(d, `${label}: capture sweep`, config, true);
  const outcomes = new Map(run.clusters.flatMap((c) => c.csrs).map((o) => [o.name, o.action]));
  for (const csr of decidedPlan) {
    const action = outcomes.get(csr.name ?? "");
    if (action !== (csr.expected === "Approved" ? "approved" : "denied"))
      d.problem(`${label}: capture sweep: ${csr.kind} CSR ${csr.name} ${action ?? "not decided"}`);
  }
  await eachBounded(
    decidedPlan.filter((p) => p.expected === "Approved"),
    CREATE_CONCURRENCY,
    async (csr) => approveAndAwaitIssue(cluster, csr.name ?? ""),
  );
  // Pending templates: one real kubelet CSR per node, never swept.
  await eachBounded(nodes, CREATE_CONCURRENCY, async (instance) => {
    await createPlannedCsr(cluster, legitPlan(instance));
  });
  const { envelope, items: captured } = await rawCsrList(cluster);
  const isDecided = (json: Record<string, unknown>) =>
    ((json.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).some((c) =>
      ["Approved", "Denied", "Failed"].includes(c.type),
    );
  const templates: ReplayTemplate[] = captured.map((json) => ({
    json: json as ReplayTemplate["json"],
    pending: !isDecided(json),
  }));
  const decidedT = templates.flatMap((t, i) => (t.pending ? [] : [i]));
  const pendingT = templates.flatMap((t, i) => (t.pending ? [i] : []));
  const issued = templates.filter(
    (t) => !t.pending && Boolean((t.json.status as { certificate?: string } | undefined)?.certificate),
  ).length;
  if (pendingT.length !== options.pendingNodes || decidedT.length !== options.approvedIssued + options.denied)
    throw new Error(
      `${label}: captured ${pendingT.length} pending and ${decidedT.length} decided CSRs, expected ` +
        `${options.pendingNodes} and ${options.approvedIssued + options.denied}`,
    );
  const capturedBytes = captured.reduce((n, json) => n + Buffer.byteLength(JSON.stringify(json)), 0);

  const dataset = (decided: number) => {
    // Deterministic names in the apiserver's generateName style (csr-xxxxx + index), pending
    // ones spread through the name order; decided ones created over the last 30 days, the
    // pending clones a few seconds apart (a kubelet filing again).
    const items: ReplayItem[] = [];
    const now = Date.now();
    const pendingEvery = Math.max(1, Math.floor((decided + options.pending) / options.pending));
    let rv = 1000;
    let p = 0;
    for (let i = 0; items.length < decided + options.pending; i++) {
      const isPending =
        p < options.pending && (i % pendingEvery === pendingEvery - 1 || items.length - p >= decided);
      const template = isPending
        ? (pendingT[p % pendingT.length] as number)
        : (decidedT[(i - p) % decidedT.length] as number);
      const created = isPending
        ? new Date(now - 60_000 + Math.floor(p / pendingT.length) * 5_000)
        : new Date(now - 30 * 86_400_000 + Math.floor(((i - p) * 86_400_000 * 30) / Math.max(1, decided)));
      if (isPending) p += 1;
      items.push({
        template,
        name: `csr-${i.toString(36).padStart(5, "0")}${randomBytes(2).toString("hex")}`,
        uid: `${randomBytes(4).toString("hex")}-${randomBytes(2).toString("hex")}-4${randomBytes(2).toString("hex").slice(1)}-a${randomBytes(2).toString("hex").slice(1)}-${randomBytes(6).toString("hex")}`,
        resourceVersion: rv++,
        creationTimestamp: `${created.toISOString().slice(0, 19)}Z`,
      });
    }
    return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };

  const pki = join(cluster.info.dir, "pki");
  const token = randomBytes(16).toString("hex");
  const secretArn = await putSecret(d.world.clients, `bench/replay-token-${Date.now()}`, token);
  const runs: ReplayResult["runs"] = [];
  for (const [runLabel, decided] of [
    [`${options.pending} pending only`, 0],
    [`${options.total} CSRs, ${options.total - options.pending} decided`, options.total - options.pending],
  ] as const) {
    const items = dataset(decided);
    const server = await startReplayServer({
      certPem: readFileSync(join(pki, "apiserver.crt"), "utf8"),
      keyPem: readFileSync(join(pki, "apiserver.key"), "utf8"),
      token,
      envelope,
      templates,
      items,
      nodes: nodes.map((n) => ({ name: n.node, instanceId: n.instanceId })),
    });
    try {
      d.progress(`${label}: sweeping the replay (${runLabel}) in a fresh worker`);
      const replayConfig = {
        regions: ["us-east-1"],
        eks: { discovery: false },
        selfManaged: [
          {
            name: "replay",
            region: "us-east-1",
            endpoint: server.endpoint,
            caData: Buffer.from(cluster.caPem).toString("base64"),
            credential: { secretsManager: secretArn },
            vpcIds: [d.world.vpcId],
          },
        ],
      };
      const { run, figures } = await sweepOnce(d, `${label} (${runLabel})`, replayConfig, true);
      checkApprovalBounds(d, `${label} (${runLabel})`, run);
      const pendingNames = new Set(
        items.filter((i) => (templates[i.template] as ReplayTemplate).pending).map((i) => i.name),
      );
      for (const o of run.clusters.flatMap((c) => c.csrs)) {
        if (!pendingNames.has(o.name))
          d.problem(`${label}: an outcome for decided CSR ${o.name} (${o.action})`);
        if (o.action === "denied")
          d.problem(`${label}: valid pending CSR ${o.name} denied (${o.reasons.join(",")})`);
      }
      if (server.stats.writesToDecided > 0)
        d.problem(`${label}: ${server.stats.writesToDecided} writes to decided CSRs`);
      if (server.stats.unknown.length > 0)
        d.problem(`${label}: unexpected requests ${server.stats.unknown.slice(0, 5).join(", ")}`);
      for (const [name, types] of server.written)
        if (types.includes("Approved") && !pendingNames.has(name))
          d.problem(`${label}: approved decided CSR ${name}`);
      const row = {
        ...figures,
        label: runLabel,
        items: items.length,
        serverPages: server.stats.listPages,
        serverBytes: server.stats.bytesServed,
        writes: server.stats.writes,
      };
      runs.push(row);
      d.progress(
        `${label} (${runLabel}): ${(figures.peakRssBytes / 2 ** 20).toFixed(0)} MB peak RSS, ` +
          `${(figures.wallMs / 1000).toFixed(1)} s wall, ${(figures.cpuMs / 1000).toFixed(1)} s CPU, ${row.serverPages} pages ` +
          `(${(row.serverBytes / 2 ** 20).toFixed(0)} MiB), ${figures.pending} pending, ${figures.approved} approved, ` +
          `${row.writes} writes, ${figures.messages} SNS messages`,
      );
    } finally {
      await server.close();
    }
  }
  return {
    total: options.total,
    decided: options.total - options.pending,
    pending: options.pending,
    pendingNodes: options.pendingNodes,
    templates: {
      decidedApprovedIssued: issued,
      decidedDenied: decidedT.length - issued,
      pending: pendingT.length,
    },
    capturedBytesPerItem: Math.round(capturedBytes / captured.length),
    pageSize: 500,
    runs,
  };
}

// ---------------------------------------------------------------------------------------
// D. Audit of approvals made elsewhere (issue 24)

export interface AuditResult {
  /** Approved-elsewhere CSRs in the window, served by the replay apiserver. */
  approvedElsewhere: number;
  /** Of those, hostile (another node's IP): each must raise one approved-elsewhere alert. */
  hostile: number;
  nodes: number;
  setupSeconds: number;
  run: SweepFigures & {
    audited: number;
    auditDeferred: number;
    violations: number;
    items: number;
    serverPages: number;
    writes: number;
  };
}

/**
 * 5,000 kubelet-serving CSRs approved (and issued) by someone else within the audit window, a
 * few of them hostile, served by the replay apiserver from real CSR JSON that another approver
 * approved and the rig's signer issued; one sweep in a fresh worker audits them all. What it
 * costs (time, CPU, peak RSS, EC2 calls), that every hostile one raises exactly one
 * `approved-elsewhere` alert, no legitimate one does, and nothing is written.
 */
export async function auditReplay(
  d: FairnessDeps,
  options: { approvedElsewhere: number; nodes: number; hostile: number },
): Promise<AuditResult> {
  const label = `audit of ${options.approvedElsewhere} approvals made elsewhere`;
  const elapsed = timer();
  await reset(d);
  const cluster = d.world.clusters[0] as RigCluster;
  const nodes = d.world.pool.slice(0, options.nodes + options.hostile);
  await mint(
    d,
    cluster,
    nodes.map((n) => n.node),
  );
  const plan: PlannedCsr[] = nodes.map((instance, i) =>
    i < options.nodes
      ? legitPlan(instance)
      : {
          kind: "other-ip",
          clusterIndex: 0,
          instance,
          other: nodes[0] as PoolInstance,
          expected: "Denied",
          expectedCode: "IP_NOT_OWNED",
        },
  );
  await eachBounded(plan, CREATE_CONCURRENCY, async (csr) => {
    csr.name = await createPlannedCsr(cluster, csr);
  });
  // "Another approver": the admin approves every one through the approval subresource (reason
  // BenchSetup), and the rig's signer issues them.
  await eachBounded(plan, CREATE_CONCURRENCY, async (csr) => approveAndAwaitIssue(cluster, csr.name ?? ""));
  const { envelope, items: captured } = await rawCsrList(cluster);
  const templates: ReplayTemplate[] = captured.map((json) => ({
    json: json as ReplayTemplate["json"],
    pending: false,
  }));
  const hostileNames = new Set(plan.filter((p) => p.kind === "other-ip").map((p) => p.name));
  const hostileT = captured.flatMap((json, i) =>
    hostileNames.has((json.metadata as { name?: string }).name) ? [i] : [],
  );
  const legitT = captured.flatMap((json, i) =>
    hostileNames.has((json.metadata as { name?: string }).name) ? [] : [i],
  );
  if (hostileT.length !== options.hostile || legitT.length !== options.nodes)
    throw new Error(`${label}: captured ${hostileT.length} hostile and ${legitT.length} legitimate CSRs`);
  // Each hostile template once; the rest are clones of the legitimate ones (a node renewing),
  // created over the last minute: within the default one-hour window, and after the moto
  // instances' launch (an older CSR would fail CSR_PREDATES_INSTANCE, not the point here).
  const now = Date.now();
  const items: ReplayItem[] = [];
  for (let i = 0; i < options.approvedElsewhere; i++) {
    const template = i < hostileT.length ? (hostileT[i] as number) : (legitT[i % legitT.length] as number);
    items.push({
      template,
      name: `csr-a${i.toString(36).padStart(5, "0")}${randomBytes(2).toString("hex")}`,
      uid: `${randomBytes(4).toString("hex")}-${randomBytes(2).toString("hex")}-4${randomBytes(2).toString("hex").slice(1)}-a${randomBytes(2).toString("hex").slice(1)}-${randomBytes(6).toString("hex")}`,
      resourceVersion: 1000 + i,
      creationTimestamp: `${new Date(now - 60_000 + Math.floor((i * 60_000) / options.approvedElsewhere)).toISOString().slice(0, 19)}Z`,
    });
  }
  const hostileItems = new Set(items.filter((i) => hostileT.includes(i.template)).map((i) => i.name));

  const pki = join(cluster.info.dir, "pki");
  const token = randomBytes(16).toString("hex");
  const secretArn = await putSecret(d.world.clients, `bench/audit-token-${Date.now()}`, token);
  const server = await startReplayServer({
    certPem: readFileSync(join(pki, "apiserver.crt"), "utf8"),
    keyPem: readFileSync(join(pki, "apiserver.key"), "utf8"),
    token,
    envelope,
    templates,
    items,
    nodes: nodes.map((n) => ({ name: n.node, instanceId: n.instanceId })),
  });
  const setupSeconds = elapsed();
  try {
    d.progress(`${label}: sweeping the replay in a fresh worker`);
    const config = {
      regions: ["us-east-1"],
      eks: { discovery: false },
      selfManaged: [
        {
          name: "audit",
          region: "us-east-1",
          endpoint: server.endpoint,
          caData: Buffer.from(cluster.caPem).toString("base64"),
          credential: { secretsManager: secretArn },
          vpcIds: [d.world.vpcId],
        },
      ],
    };
    const { run, figures } = await sweepOnce(d, label, config, true);
    const outcomes = run.clusters.flatMap((c) => c.csrs);
    const violations = outcomes.filter((o) => o.action === "approved-elsewhere");
    for (const o of violations)
      if (!hostileItems.has(o.name)) d.problem(`${label}: legitimate ${o.name} reported approved-elsewhere`);
    for (const name of hostileItems)
      if (!violations.some((o) => o.name === name)) d.problem(`${label}: hostile ${name} not reported`);
    const alerted = violations.filter((o) => o.delivery === "alert").length;
    if (alerted !== options.hostile)
      d.problem(
        `${label}: ${alerted} approved-elsewhere alerts sent on their own, expected ${options.hostile}`,
      );
    if (server.stats.writes > 0)
      d.problem(`${label}: ${server.stats.writes} writes to CSRs approved elsewhere`);
    const audited = run.clusters.reduce((n, c) => n + (c.audited ?? 0), 0);
    const auditDeferred = run.clusters.reduce((n, c) => n + (c.auditDeferred ?? 0), 0);
    if (audited + auditDeferred !== options.approvedElsewhere)
      d.problem(`${label}: ${audited} audited + ${auditDeferred} deferred of ${options.approvedElsewhere}`);
    d.progress(
      `${label}: ${audited} audited (${auditDeferred} left for the next sweep), ${violations.length} violations, ` +
        `${(figures.wallMs / 1000).toFixed(1)} s wall, ${(figures.cpuMs / 1000).toFixed(1)} s CPU, ` +
        `${(figures.peakRssBytes / 2 ** 20).toFixed(0)} MB peak RSS, ${figures.ec2DescribeInstances} DescribeInstances`,
    );
    return {
      approvedElsewhere: options.approvedElsewhere,
      hostile: options.hostile,
      nodes: options.nodes,
      setupSeconds,
      run: {
        ...figures,
        audited,
        auditDeferred,
        violations: violations.length,
        items: items.length,
        serverPages: server.stats.listPages,
        writes: server.stats.writes,
      },
    };
  } finally {
    await server.close();
  }
}
