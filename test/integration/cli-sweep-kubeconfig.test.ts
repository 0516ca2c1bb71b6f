// `csr-approver sweep --kubeconfig FILE --context NAME` end to end: the real bin against a rig
// kube-apiserver reached only through a kubeconfig (nothing stored in Secrets Manager), with
// each kind of credential a kubeconfig can hold (a static token, a client certificate, an exec
// plugin printing an ExecCredential), and the EC2 facts from moto.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SweepReport } from "../../functions/sweep/report.js";
import { awsClients, seedStandardWorld, type StandardWorld } from "../rig/aws-seed.js";
import type { ClusterHandle } from "../rig/cluster.js";
import { awsClientConfig, rig } from "../rig/context.js";
import { forgeNodeCsr, kubeletCsr } from "../rig/kubelet.js";
import {
  conditionsOf,
  decisionConditionOf,
  nodeInstance,
  type NodeInstance,
} from "../support/sweep-world.js";
import { runCli, type CliRun } from "../support/cli.js";

const suffix = randomBytes(3).toString("hex");
const CLUSTER = `kc-${suffix}`;

describe("csr-approver sweep --kubeconfig", () => {
  let home: string;
  let cluster: ClusterHandle;
  let world: StandardWorld;
  let multi: NodeInstance;
  let plain: NodeInstance;
  let kubeconfig: string;
  const csr = { legit: "", hostile: "" };

  const sweep = (args: string[]): Promise<CliRun> => runCli(home, ["sweep", ...args]);
  const json = (run: CliRun) => JSON.parse(run.stdout) as SweepReport;
  const actionsOf = (report: SweepReport) =>
    Object.fromEntries(
      report.clusters
        .flatMap((c) => c.csrs)
        .filter((o) => o.name === csr.legit || o.name === csr.hostile)
        .map((o) => [o.name, [o.action, o.reasons.map((r) => r.code).join(",")]]),
    );
  const common = () => ["--cluster", CLUSTER, "--cluster-vpc", world.clusterVpc.vpcId, "--output", "json"];

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "cli-kubeconfig-"));
    cluster = rig().clusters.at(-1)!;
    const clients = awsClients(awsClientConfig());
    world = await seedStandardWorld(clients, { prefix: CLUSTER, fillerCount: 0 });
    multi = await nodeInstance(clients, world.multiEni.instanceId);
    plain = await nodeInstance(clients, world.plain.instanceId);

    const approver = cluster.approver;
    const token = approver.token;
    if (!token) throw new Error("the rig approver has no token");
    // The exec plugin: a tiny script printing an ExecCredential, as aws eks get-token does.
    const tokenFile = join(home, "token");
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const plugin = join(home, "get-token.sh");
    writeFileSync(
      plugin,
      `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat '${tokenFile}')"\n`,
    );
    chmodSync(plugin, 0o755);
    const b64 = (file: string) => readFileSync(file).toString("base64");
    const server = {
      server: cluster.server,
      "certificate-authority-data": Buffer.from(cluster.caPem).toString("base64"),
    };
    const context = (name: string, user: string, clusterName = "rig") => ({
      name,
      context: { cluster: clusterName, user },
    });
    kubeconfig = join(home, "kubeconfig.yaml");
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        "current-context": "rig-token",
        clusters: [
          { name: "rig", cluster: server },
          { name: "rig-insecure", cluster: { server: cluster.server, "insecure-skip-tls-verify": true } },
        ],
        users: [
          { name: "token", user: { token } },
          {
            name: "cert",
            user: {
              "client-certificate-data": b64(approver.certFile),
              "client-key-data": b64(approver.keyFile),
            },
          },
          {
            name: "exec",
            user: {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1",
                command: plugin,
                interactiveMode: "Never",
              },
            },
          },
        ],
        contexts: [
          context("rig-token", "token"),
          context("rig-cert", "cert"),
          context("rig-exec", "exec"),
          context("rig-insecure", "token", "rig-insecure"),
        ],
      }),
    );

    // multi's kubelet (its own code, AWS's Node addresses); plain asking for multi's IP is
    // forged: no kubelet makes that request.
    csr.legit = (await kubeletCsr(cluster, { node: multi.node, addresses: multi.addresses })).name;
    csr.hostile = (await forgeNodeCsr(cluster, { node: plain.node, ips: [multi.privateIps[0]!] })).name;
  });

  afterAll(async () => {
    await cluster.deleteCsrs(Object.values(csr).filter(Boolean));
    rmSync(home, { recursive: true, force: true });
  });

  it.each([
    ["a static token (the current context)", []],
    ["a client certificate", ["--context", "rig-cert"]],
    ["an exec plugin (ExecCredential)", ["--context", "rig-exec"]],
  ])("--dry-run with %s decides from EC2 and writes nothing", async (_what, contextArgs) => {
    const run = await sweep(["--dry-run", "--kubeconfig", kubeconfig, ...contextArgs, ...common()]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = json(run);
    expect(report.clusters.map((c) => [c.cluster, c.status, c.mode])).toEqual([[CLUSTER, "ok", "dry-run"]]);
    expect(actionsOf(report)).toEqual({
      [csr.legit]: ["would-approve", "ALL_CHECKS_PASSED"],
      [csr.hostile]: ["would-deny", "IP_NOT_OWNED"],
    });
    for (const name of Object.values(csr)) expect(await conditionsOf(cluster, name)).toEqual([]);
  });

  it("refuses what it cannot honour, in one line: an unknown context, insecure-skip-tls-verify, no VPC", async () => {
    const unknown = await sweep(["--dry-run", "--kubeconfig", kubeconfig, "--context", "nope", ...common()]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^csr-approver sweep: --context 'nope': no such context \(kubeconfig has: rig-token, /,
    );
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);

    const insecure = await sweep([
      "--dry-run",
      "--kubeconfig",
      kubeconfig,
      "--context",
      "rig-insecure",
      ...common(),
    ]);
    expect(insecure.code).toBe(2);
    expect(insecure.stderr).toContain("insecure-skip-tls-verify is not supported");

    const noVpc = await sweep(["--dry-run", "--kubeconfig", kubeconfig, "--cluster", CLUSTER]);
    expect(noVpc.code).toBe(2);
    expect(noVpc.stderr).toContain(`no VPC known for cluster '${CLUSTER}': give --cluster-vpc VPC`);
  });

  it("an EKS cluster named in --config gets its VPC from DescribeCluster", async () => {
    // The seeded world's EKS cluster, in the cluster VPC (moto's DescribeCluster gives its vpcId).
    const eksName = world.eksCluster.name!;
    const config = join(home, "eks-config.json");
    // The tag filter is discovery's business: the kubeconfig already chose the cluster.
    writeFileSync(
      config,
      JSON.stringify({ eks: { discovery: false, tags: { team: "x" }, clusters: { [eksName]: {} } } }),
    );
    const run = await sweep([
      "--dry-run",
      "--kubeconfig",
      kubeconfig,
      "--config",
      config,
      "--cluster",
      eksName,
      "--output",
      "json",
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const report = json(run);
    expect(report.clusters.map((c) => [c.cluster, c.source, c.status])).toEqual([[eksName, "eks", "ok"]]);
    expect(actionsOf(report)).toEqual({
      [csr.legit]: ["would-approve", "ALL_CHECKS_PASSED"],
      [csr.hostile]: ["would-deny", "IP_NOT_OWNED"],
    });
  });

  it("without --dry-run it approves through the exec plugin's credential", async () => {
    const run = await sweep(["--kubeconfig", kubeconfig, "--context", "rig-exec", ...common()]);
    expect(run.code).toBe(0);
    expect(actionsOf(json(run))[csr.legit]).toEqual(["approved", "ALL_CHECKS_PASSED"]);
    expect(decisionConditionOf(await conditionsOf(cluster, csr.legit))).toBe("Approved");
    // No topic: the hostile CSR waits rather than being denied without its alert.
    expect(actionsOf(json(run))[csr.hostile]).toEqual(["waiting", "IP_NOT_OWNED"]);
  });
});
