// `csr-approver sweep` end to end: the real bin, spawned with this Node, against a rig
// kube-apiserver (CSRs created by node identities, as the kubelet does) and moto (EC2,
// Secrets Manager, SNS → SQS), reached only through the SDK's AWS_ENDPOINT_URL and ambient
// credentials from the environment, as on a workstation.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException, CertificatesV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SweepReport } from "../../functions/sweep/report.js";
import { awsClients, seedStandardWorld, type AwsClients, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  nodeInstance,
  storeApproverToken,
  type NodeInstance,
  alertContext,
  drainAlerts,
} from "../support/sweep-world.js";
import { runCli, type CliRun } from "../support/cli.js";

const suffix = randomBytes(3).toString("hex");
const CLUSTER = `cli-${suffix}`;

let home: string;

const sweep = (args: string[]): Promise<CliRun> => runCli(home, ["sweep", ...args]);

/** The table row of one CSR, split into its columns. */
function row(stdout: string, csr: string): string[] | undefined {
  return stdout
    .split("\n")
    .map((line) => line.split(/\s{2,}/))
    .find((columns) => columns[0] === CLUSTER && columns[1] === csr);
}

describe("csr-approver sweep against a rig cluster and moto", () => {
  let cluster: ClusterHandle;
  let clients: AwsClients;
  let world: StandardWorld;
  let multi: NodeInstance;
  let plain: NodeInstance;
  let configFile: string;
  let withUnreachable: string;
  const csr: { legit: string; hostile: string } = { legit: "", hostile: "" };

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "cli-sweep-"));
    cluster = rig().clusters.at(-1)!;
    clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: CLUSTER, fillerCount: 0 });
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    plain = await nodeInstance(clients, world.plain.instanceId);
    const secretArn = await storeApproverToken(clients, cluster, `${CLUSTER}/approver-token`);

    const entry = {
      name: CLUSTER,
      region: rig().moto.region,
      endpoint: cluster.server,
      caData: Buffer.from(cluster.caPem).toString("base64"),
      credential: { secretsManager: secretArn },
      vpcIds: [world.clusterVpc.vpcId],
    };
    configFile = join(home, "config.yaml");
    writeFileSync(configFile, JSON.stringify({ eks: { discovery: false }, selfManaged: [entry] }));
    withUnreachable = join(home, "with-unreachable.json");
    writeFileSync(
      withUnreachable,
      JSON.stringify({
        eks: { discovery: false },
        selfManaged: [entry, { ...entry, name: `${CLUSTER}-down`, endpoint: "https://127.0.0.1:9" }],
      }),
    );

    // The kubelet of `multi` asking for its own names and addresses (its own code, given the
    // Node addresses AWS publishes), and `plain` asking for an address of `multi` (forged:
    // no kubelet asks for another instance's IP).
    csr.legit = (await kubeletCsr(cluster, { node: multi.node, addresses: multi.addresses })).name;
    csr.hostile = (await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] })).name;
    await drainAlerts(world.alerts);
  });

  afterAll(async () => {
    // Leave no CSR of ours for the other suites' sweeps of this shared cluster.
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    for (const name of Object.values(csr).filter(Boolean)) {
      await api.deleteCertificateSigningRequest({ name }).catch((error: unknown) => {
        if (!(error instanceof ApiException && error.code === 404)) throw error;
      });
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("--dry-run prints would-approve / would-deny and leaves every CSR untouched", async () => {
    const run = await sweep(["--dry-run", "--config", configFile, "--cluster", CLUSTER]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(row(run.stdout, csr.legit)).toEqual([
      CLUSTER,
      csr.legit,
      multi.node,
      multi.instanceId,
      "approve",
      "would-approve",
      "ALL_CHECKS_PASSED",
    ]);
    expect(row(run.stdout, csr.hostile)?.slice(2)).toEqual([
      plain.node,
      plain.instanceId,
      "deny",
      "would-deny",
      "IP_NOT_OWNED",
    ]);
    expect(run.stdout).toContain(`${CLUSTER}/${csr.hostile}: IP_NOT_OWNED: IP SAN ${multi.privateIps[0]}`);
    expect(run.stdout).toMatch(/; --dry-run: nothing was written\n$/);

    // Nothing written: no condition at all (not even an alert marker), no alert.
    for (const name of [csr.legit, csr.hostile]) expect(await conditionsOf(cluster, name)).toEqual([]);
    expect(await drainAlerts(world.alerts)).toEqual([]);
  });

  it("--output json is the sweep report; an unreachable cluster fails alone and exits 1", async () => {
    const run = await sweep(["--dry-run", "--config", withUnreachable, "--output", "json"]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as SweepReport;
    const byName = Object.fromEntries(report.clusters.map((c) => [c.cluster, c]));
    expect(byName[`${CLUSTER}-down`]).toMatchObject({ status: "failed", mode: "dry-run", csrs: [] });
    expect(byName[CLUSTER]).toMatchObject({ status: "ok", mode: "dry-run", source: "self-managed" });
    const mine = byName[CLUSTER]!.csrs.filter((o) => o.name === csr.legit || o.name === csr.hostile);
    expect(mine.map((o) => [o.name, o.action]).sort()).toEqual(
      [
        [csr.legit, "would-approve"],
        [csr.hostile, "would-deny"],
      ].sort(),
    );
    expect(report.totals["would-approve"]).toBeGreaterThanOrEqual(1);
    // The engine's error line for the failed cluster, on stderr.
    expect(run.stderr).toMatch(/^csr-approver: error: cluster sweep failed cluster="cli-[0-9a-f]+-down"/m);
    for (const name of [csr.legit, csr.hostile]) expect(await conditionsOf(cluster, name)).toEqual([]);
  });

  it("without a topic it approves the legitimate CSR and leaves the hostile one waiting", async () => {
    const run = await sweep(["--config", configFile]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("no --topic-arn or ALERT_TOPIC_ARN");
    expect(row(run.stdout, csr.legit)?.slice(4)).toEqual(["approve", "approved", "ALL_CHECKS_PASSED"]);
    expect(row(run.stdout, csr.hostile)?.slice(4)).toEqual(["wait", "waiting", "IP_NOT_OWNED"]);
    expect(run.stdout).toContain(`${CLUSTER}/${csr.hostile}: error: no alert topic configured`);

    const legit = await conditionsOf(cluster, csr.legit);
    expect(decisionConditionOf(legit)).toBe("Approved");
    expect(legit.find((c) => c.type === "Approved")?.status).toBe("True");
    expect(decisionConditionOf(await conditionsOf(cluster, csr.hostile))).toBe("Pending");
    expect(await drainAlerts(world.alerts)).toEqual([]);
  });

  it("with --topic-arn it denies the hostile CSR after publishing its alert", async () => {
    const run = await sweep(["--config", configFile, "--topic-arn", world.alerts.topicArn]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(row(run.stdout, csr.hostile)?.slice(4)).toEqual(["deny", "denied", "IP_NOT_OWNED"]);
    // Already approved: counted, not listed.
    expect(row(run.stdout, csr.legit)).toBeUndefined();

    const hostile = await conditionsOf(cluster, csr.hostile);
    expect(decisionConditionOf(hostile)).toBe("Denied");
    expect(hostile.find((c) => c.type === "Denied")?.message).toContain("IP_NOT_OWNED");
    expect(decisionConditionOf(await conditionsOf(cluster, csr.legit))).toBe("Approved");

    const alerts = (await drainAlerts(world.alerts)).map(alertContext);
    const mine = alerts.filter((a) => a.csr === csr.hostile);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      cluster: CLUSTER,
      decision: "deny",
      node: plain.node,
      account: "123456789012",
    });
    expect(mine[0]?.reasonCodes).toContain("IP_NOT_OWNED");
    expect(alerts.some((a) => a.csr === csr.legit)).toBe(false);
  });
});
