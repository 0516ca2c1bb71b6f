// `csr-approver setup-cluster` against a rig kube-apiserver: from a cluster where the
// approver has no RBAC, the real bin (admin kubeconfig) grants exactly infra/rbac.yaml; the
// approver can then approve a kubelet-serving CSR and nothing more. The rig pre-applies the
// RBAC, so the test deletes it first, and restores it at the end for the suites after it.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ApiException,
  CertificatesV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1CertificateSigningRequest,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approverClusterRole, approverClusterRoleBinding } from "../../functions/cli/setup-cluster.js";
import type { ClusterHandle, RigIdentity } from "../rig/cluster.js";
import { rig } from "../rig/context.js";
import { certificatesApi, createArbitraryCsr, kubeletCsr } from "../rig/kubelet.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(ROOT, "bin/csr-approver.mjs");
const suffix = randomBytes(3).toString("hex");
const ROLE = "clusterrole.rbac.authorization.k8s.io/csr-approver";
const BINDING = "clusterrolebinding.rbac.authorization.k8s.io/csr-approver";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function setupCluster(args: string[]): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, "setup-cluster", ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The HTTP status of a Kubernetes call: 200 when it succeeded. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

/** RBAC changes reach the authorizer through an informer: poll until the answer settles. */
async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function approved(csr: V1CertificateSigningRequest): V1CertificateSigningRequest {
  const condition = { type: "Approved", status: "True", reason: "SetupClusterTest", message: "test" };
  return { ...csr, status: { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] } };
}

/** Tries to approve a CSR as `who`; resolves with the HTTP status. */
async function approveAs(cluster: ClusterHandle, who: RigIdentity, name: string): Promise<number> {
  const api = certificatesApi(cluster, who);
  const current = await cluster
    .kubeConfig(cluster.admin)
    .makeApiClient(CertificatesV1Api)
    .readCertificateSigningRequest({ name });
  return statusOf(api.replaceCertificateSigningRequestApproval({ name, body: approved(current) }));
}

describe("csr-approver setup-cluster against a rig cluster", () => {
  let cluster: ClusterHandle;
  let admin: string;
  let rbac: RbacAuthorizationV1Api;
  const created: string[] = [];

  const listCsrsAs = (who: RigIdentity) =>
    statusOf(certificatesApi(cluster, who).listCertificateSigningRequest());

  beforeAll(async () => {
    cluster = rig().clusters.at(-1)!;
    admin = cluster.admin.kubeconfig;
    rbac = cluster.kubeConfig(cluster.admin).makeApiClient(RbacAuthorizationV1Api);
    // Start from a cluster without the approver's RBAC.
    for (const remove of [
      () => rbac.deleteClusterRoleBinding({ name: "csr-approver" }),
      () => rbac.deleteClusterRole({ name: "csr-approver" }),
    ]) {
      const status = await statusOf(remove());
      expect([200, 404]).toContain(status);
    }
    await eventually(async () => expect(await listCsrsAs(cluster.approver)).toBe(403));
  });

  afterAll(async () => {
    // Whatever happened above, the cluster ends with infra/rbac.yaml as the rig set it up.
    const restore = await setupCluster(["--kubeconfig", admin]);
    expect(restore.code, restore.stderr).toBe(0);
    await eventually(async () => expect(await listCsrsAs(cluster.approver)).toBe(200));
    const api = cluster.kubeConfig(cluster.admin).makeApiClient(CertificatesV1Api);
    for (const name of created) await statusOf(api.deleteCertificateSigningRequest({ name }));
  });

  it("--dry-run reports what it would create and stores nothing", async () => {
    const run = await setupCluster(["--kubeconfig", admin, "--dry-run"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ROLE} created (dry run)\n`);
    expect(run.stdout).toContain(`${BINDING} created (dry run)\n`);
    expect(await statusOf(rbac.readClusterRole({ name: "csr-approver" }))).toBe(404);
    expect(await statusOf(rbac.readClusterRoleBinding({ name: "csr-approver" }))).toBe(404);
  });

  it("creates exactly infra/rbac.yaml and prints the self-managed hint", async () => {
    const run = await setupCluster(["--kubeconfig", admin]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Cluster ${cluster.server} `);
    expect(run.stdout).toContain(`${ROLE} created\n`);
    expect(run.stdout).toContain(`${BINDING} created\n`);
    expect(run.stdout).toContain("Self-managed:");
    expect(run.stdout).not.toContain("create-access-entry");

    const role = await rbac.readClusterRole({ name: "csr-approver" });
    expect(role.rules).toEqual(approverClusterRole().rules);
    expect(role.aggregationRule).toBeUndefined();
    const binding = await rbac.readClusterRoleBinding({ name: "csr-approver" });
    expect(binding.roleRef).toEqual(approverClusterRoleBinding().roleRef);
    expect(binding.subjects).toEqual(approverClusterRoleBinding().subjects);
  });

  it("lets the approver approve a kubelet-serving CSR, and nothing beyond SPEC §9", async () => {
    await eventually(async () => expect(await listCsrsAs(cluster.approver)).toBe(200));
    const node = `setup-${suffix}.ec2.internal`;
    // The kubelet's own CSR for a node with a hostname and an IP.
    const kubelet = await kubeletCsr(cluster, {
      node,
      addresses: [
        { type: "InternalIP", address: "10.0.1.80" },
        { type: "Hostname", address: node },
      ],
    });
    created.push(kubelet.name);
    expect(await approveAs(cluster, cluster.approver, kubelet.name)).toBe(200);
    const stored = await cluster
      .kubeConfig(cluster.admin)
      .makeApiClient(CertificatesV1Api)
      .readCertificateSigningRequest({ name: kubelet.name });
    expect(stored.status?.conditions?.find((c) => c.type === "Approved")?.status).toBe("True");

    // Another signer's CSR: refused by the CertificateApproval admission plugin.
    const client = await createArbitraryCsr(cluster, {
      as: cluster.admin,
      request: { commonName: `someone-${suffix}`, organizations: ["team"] },
      signerName: "kubernetes.io/kube-apiserver-client",
      usages: ["digital signature", "client auth"],
    });
    created.push(client.name);
    expect(await approveAs(cluster, cluster.approver, client.name)).toBe(403);

    const core = cluster.kubeConfig(cluster.approver).makeApiClient(CoreV1Api);
    expect(await statusOf(core.listNode())).toBe(200);
    expect(await statusOf(core.listNamespacedSecret({ namespace: "default" }))).toBe(403);
    expect(
      await statusOf(
        core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: `s-${suffix}` } } }),
      ),
    ).toBe(403);
    expect(
      await statusOf(
        certificatesApi(cluster, cluster.approver).deleteCertificateSigningRequest({ name: client.name }),
      ),
    ).toBe(403);
  });

  it("reports unchanged when run again", async () => {
    const run = await setupCluster(["--kubeconfig", admin]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ROLE} unchanged\n`);
    expect(run.stdout).toContain(`${BINDING} unchanged\n`);
  });

  it("puts back a role someone widened, dropping the extra rule and aggregation label", async () => {
    const role = await rbac.readClusterRole({ name: "csr-approver" });
    await rbac.replaceClusterRole({
      name: "csr-approver",
      body: {
        ...role,
        metadata: {
          ...role.metadata,
          labels: { ...role.metadata?.labels, "rbac.authorization.k8s.io/aggregate-to-admin": "true" },
        },
        rules: [...(role.rules ?? []), { apiGroups: [""], resources: ["secrets"], verbs: ["list"] }],
      },
    });
    const core = cluster.kubeConfig(cluster.approver).makeApiClient(CoreV1Api);
    await eventually(async () =>
      expect(await statusOf(core.listNamespacedSecret({ namespace: "default" }))).toBe(200),
    );

    const run = await setupCluster(["--kubeconfig", admin]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ROLE} updated\n`);
    expect(run.stdout).toContain(`${BINDING} unchanged\n`);
    const restored = await rbac.readClusterRole({ name: "csr-approver" });
    expect(restored.rules).toEqual(approverClusterRole().rules);
    expect(restored.metadata?.labels).toEqual(approverClusterRole().metadata?.labels);
    await eventually(async () =>
      expect(await statusOf(core.listNamespacedSecret({ namespace: "default" }))).toBe(403),
    );
  });

  it("replaces a binding that points at another role (roleRef cannot be updated in place)", async () => {
    await rbac.deleteClusterRoleBinding({ name: "csr-approver" });
    await rbac.createClusterRoleBinding({
      body: {
        ...approverClusterRoleBinding(),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      },
    });
    const dry = await setupCluster(["--kubeconfig", admin, "--dry-run"]);
    expect(dry.stderr).toBe("");
    expect(dry.stdout).toContain(`${BINDING} replaced (dry run)\n`);
    expect((await rbac.readClusterRoleBinding({ name: "csr-approver" })).roleRef.name).toBe("view");

    const run = await setupCluster(["--kubeconfig", admin]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ROLE} unchanged\n`);
    expect(run.stdout).toContain(`${BINDING} replaced\n`);
    const binding = await rbac.readClusterRoleBinding({ name: "csr-approver" });
    expect(binding.roleRef).toEqual(approverClusterRoleBinding().roleRef);
    expect(binding.subjects).toEqual(approverClusterRoleBinding().subjects);
  });

  it("--group binds the role to another group instead, and only to it", async () => {
    const group = `csr-approver-${suffix}:approvers`;
    const member = cluster.clientCredentials(`setup-member-${suffix}`, `approver-${suffix}`, [group]);
    expect(await listCsrsAs(member)).toBe(403);

    const run = await setupCluster(["--kubeconfig", admin, "--group", group]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${ROLE} unchanged\n`);
    expect(run.stdout).toContain(`${BINDING} updated\n`);
    expect(run.stdout).toContain(`Group ${group} may now`);
    await eventually(async () => {
      expect(await listCsrsAs(member)).toBe(200);
      expect(await listCsrsAs(cluster.approver)).toBe(403);
    });
    const binding = await rbac.readClusterRoleBinding({ name: "csr-approver" });
    expect(binding.subjects).toEqual(approverClusterRoleBinding(group).subjects);
  });

  it("refuses a system: group and changes nothing", async () => {
    const before = await rbac.readClusterRoleBinding({ name: "csr-approver" });
    const run = await setupCluster(["--kubeconfig", admin, "--group", "system:authenticated"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing a built-in system: group/);
    const after = await rbac.readClusterRoleBinding({ name: "csr-approver" });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
  });
});
