// setup-cluster embeds infra/rbac.yaml as objects: they must stay exactly the file's, and the
// command must refuse to bind the role to a group that would grant it to everyone.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { main } from "../../functions/cli/main.js";
import {
  APPROVER_GROUP,
  accessEntryCommand,
  approverClusterRole,
  approverClusterRoleBinding,
  eksTargetOf,
} from "../../functions/cli/setup-cluster.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const KUBECONFIG = join(mkdtempSync(join(tmpdir(), "setup-cluster-")), "kubeconfig");
writeFileSync(
  KUBECONFIG,
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "lab", cluster: { server: "https://10.0.0.10:6443" } }],
    users: [{ name: "admin", user: { token: "t" } }],
    contexts: [{ name: "lab", context: { cluster: "lab", user: "admin" } }],
    "current-context": "lab",
  }),
);

function manifest(): unknown[] {
  return parseAllDocuments(readFileSync(join(ROOT, "infra/rbac.yaml"), "utf8")).map((doc) => doc.toJS());
}

describe("embedded RBAC", () => {
  it("is exactly infra/rbac.yaml", () => {
    expect([approverClusterRole(), approverClusterRoleBinding()]).toEqual(manifest());
  });

  it("--group changes only the bound group's name", () => {
    const [, binding] = manifest() as [unknown, { subjects: { name: string }[] }];
    binding.subjects[0]!.name = "team:approvers";
    expect(approverClusterRoleBinding("team:approvers")).toEqual(binding);
    expect(approverClusterRoleBinding().subjects?.[0]?.name).toBe(APPROVER_GROUP);
  });
});

async function run(argv: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(["setup-cluster", ...argv], {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: async () => "",
    env,
  });
  return { code, stdout, stderr };
}

describe("setup-cluster arguments", () => {
  it.each(["system:authenticated", "system:nodes", "system:masters", "system:serviceaccounts"])(
    "refuses to bind the role to the built-in group %s",
    async (group) => {
      const result = await run(["--group", group, "--kubeconfig", "/nonexistent"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/refusing a built-in system: group/);
      expect(result.stdout).toBe("");
    },
  );

  it.each([
    [["--group", ""], /--group '': not a usable group name/],
    [["--group", "a b"], /--group 'a b': not a usable group name/],
    [["--principal-arn", "arn:aws:iam::123456789012:user/bob"], /expected an IAM role ARN/],
    [["--kubeconfig", "/nonexistent/kubeconfig"], /--kubeconfig \/nonexistent\/kubeconfig: /],
    [["--frobnicate"], /unknown option '--frobnicate'/],
    // No --kubeconfig, no KUBECONFIG, no ~/.kube/config: never a silent localhost fallback.
    [[], /no kubeconfig: give --kubeconfig FILE or set KUBECONFIG/],
    [
      ["--kubeconfig", KUBECONFIG, "--context", "prod"],
      /--context 'prod': no such context \(kubeconfig has: lab\)/,
    ],
  ])("exits 2 with one line for %j", async (argv, message) => {
    const result = await run(argv, { HOME: tmpdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

function kubeconfig(server: string, contextName: string, execArgs?: string[]): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: contextName, server }],
    users: [
      execArgs
        ? {
            name: "u",
            exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args: execArgs },
          }
        : { name: "u", token: "t" },
    ],
    contexts: [{ name: contextName, cluster: contextName, user: "u" }],
    currentContext: contextName,
  });
  return kc;
}

describe("EKS detection", () => {
  const endpoint = "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com";

  it("finds the region in the endpoint and the name in aws eks get-token's arguments", () => {
    const kc = kubeconfig(endpoint, "prod", [
      "--region",
      "eu-west-1",
      "eks",
      "get-token",
      "--cluster-name",
      "prod-eu",
    ]);
    expect(eksTargetOf(kc)).toEqual({ region: "eu-west-1", clusterName: "prod-eu" });
  });

  it("falls back to the cluster ARN that aws eks update-kubeconfig names contexts after", () => {
    const kc = kubeconfig(endpoint, "arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu");
    expect(eksTargetOf(kc)).toEqual({ region: "eu-west-1", clusterName: "prod-eu" });
  });

  it("is not EKS for any other server", () => {
    expect(eksTargetOf(kubeconfig("https://10.0.0.10:6443", "lab"))).toBeUndefined();
    expect(eksTargetOf(kubeconfig("https://eks.amazonaws.com.evil.example", "x"))).toBeUndefined();
  });

  it("prints an access entry with the group and no access policy", () => {
    const command = accessEntryCommand({ region: "eu-west-1", clusterName: "prod-eu" }, APPROVER_GROUP);
    expect(command).toContain("aws eks create-access-entry");
    expect(command).toContain("--cluster-name prod-eu");
    expect(command).toContain("--kubernetes-groups csr-approver:approvers");
    expect(command).not.toMatch(/policy/i);
  });
});
