// `csr-approver setup-cluster`: applies infra/rbac.yaml (embedded below; a unit test keeps
// the two identical) through the user's kubeconfig, and for EKS prints the access-entry
// command that maps the approver's role to the group. It grants nothing beyond that file.
import {
  ApiException,
  RbacAuthorizationV1Api,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import { errorMessage } from "../sweep/report.js";
import { eksTargetOf, loadKubeConfig, type EksTarget } from "./kubeconfig.js";

export { eksTargetOf, type EksTarget } from "./kubeconfig.js";
import {
  PROGRAM,
  UsageError,
  formatHelp,
  parseCommandArgs,
  stringOption,
  type CliIo,
  type CommandSpec,
} from "./args.js";

export const APPROVER_GROUP = "csr-approver:approvers";
export const RBAC_NAME = "csr-approver";
const LABELS = { "app.kubernetes.io/name": "csr-approver" };

// Exactly infra/rbac.yaml (SPEC §9). Edit both together: test/unit/setup-cluster-rbac.test.ts
// fails when they differ.
export function approverClusterRole(): V1ClusterRole {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: RBAC_NAME, labels: { ...LABELS } },
    rules: [
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["certificatesigningrequests"],
        verbs: ["get", "list", "watch"],
      },
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["certificatesigningrequests/approval"],
        verbs: ["update"],
      },
      {
        apiGroups: ["certificates.k8s.io"],
        resources: ["signers"],
        resourceNames: ["kubernetes.io/kubelet-serving"],
        verbs: ["approve"],
      },
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list"] },
    ],
  };
}

export function approverClusterRoleBinding(group: string = APPROVER_GROUP): V1ClusterRoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: RBAC_NAME, labels: { ...LABELS } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: RBAC_NAME },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
  };
}

export const setupClusterCommand: CommandSpec = {
  name: "setup-cluster",
  summary:
    "Grant the approver's group its RBAC in a cluster (infra/rbac.yaml) and print the EKS access-entry command.",
  usage:
    "setup-cluster [--kubeconfig FILE] [--context NAME] [--group NAME] [--principal-arn ARN] [--dry-run]",
  options: {
    kubeconfig: {
      type: "string",
      valueName: "FILE",
      description: "Kubeconfig of a cluster admin (default: KUBECONFIG, then ~/.kube/config).",
    },
    context: {
      type: "string",
      valueName: "NAME",
      description: "Kubeconfig context to use (default: the current context).",
    },
    group: {
      type: "string",
      valueName: "NAME",
      description: `Kubernetes group bound to the role (default: ${APPROVER_GROUP}).`,
    },
    "principal-arn": {
      type: "string",
      valueName: "ARN",
      description:
        "EKS: the approver's IAM role (stack output ApproverRoleArn), filled into the printed command.",
    },
    "dry-run": {
      type: "boolean",
      description: "Show what would change; the server validates the objects but stores nothing.",
    },
  },
  details: `Creates or replaces exactly two objects, both named ${RBAC_NAME}: a ClusterRole that may read
kubelet-serving CSRs and Nodes and approve or deny CSRs for the kubernetes.io/kubelet-serving
signer only, and a ClusterRoleBinding of that role to one group. Run it once per cluster as
a cluster admin; running it again reports "unchanged".

On EKS the approver's IAM role joins the group through an access entry, which this command
prints but does not create. Never attach an EKS access policy to that entry: the group's
RBAC is all the approver needs. On self-managed clusters, issue a bearer token to an
identity in the group and store it where the configuration's credential points.

Exit status: 0 when both objects are in place (or would be, with --dry-run); 1 when the
cluster refused or could not be reached; 2 for a wrong argument or kubeconfig.`,
};

function usage(message: string): UsageError {
  return new UsageError(`${PROGRAM} setup-cluster: ${message}`);
}

export type ApplyResult = "created" | "updated" | "replaced" | "unchanged";

const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,252}$/;

/**
 * A group is a set of principals: binding the role to a built-in one (system:nodes,
 * system:authenticated, …) would let every node or user approve kubelet certificates.
 */
export function checkGroup(group: string): void {
  if (!GROUP_NAME.test(group)) throw usage(`--group '${group}': not a usable group name`);
  if (group.startsWith("system:")) {
    throw usage(`--group '${group}': refusing a built-in system: group (it would grant every member)`);
  }
}

function normaliseRules(rules: V1PolicyRule[] | undefined): string {
  return JSON.stringify(
    (rules ?? []).map((rule) => ({
      apiGroups: rule.apiGroups ?? [],
      resources: rule.resources ?? [],
      resourceNames: rule.resourceNames ?? [],
      nonResourceURLs: rule.nonResourceURLs ?? [],
      verbs: rule.verbs ?? [],
    })),
  );
}

function sameLabels(actual: Record<string, string> | undefined, wanted: Record<string, string>): boolean {
  return (
    JSON.stringify(Object.entries(actual ?? {}).sort()) === JSON.stringify(Object.entries(wanted).sort())
  );
}

// Labels are compared exactly: an extra label such as rbac.authorization.k8s.io/aggregate-to-*
// would fold these rules into other roles, so it is removed by the update.
function roleMatches(existing: V1ClusterRole, wanted: V1ClusterRole): boolean {
  return (
    existing.aggregationRule === undefined &&
    normaliseRules(existing.rules) === normaliseRules(wanted.rules) &&
    sameLabels(existing.metadata?.labels, wanted.metadata?.labels ?? {})
  );
}

function sameRoleRef(existing: V1ClusterRoleBinding, wanted: V1ClusterRoleBinding): boolean {
  const ref = (binding: V1ClusterRoleBinding) =>
    JSON.stringify([binding.roleRef?.apiGroup, binding.roleRef?.kind, binding.roleRef?.name]);
  return ref(existing) === ref(wanted);
}

function bindingMatches(existing: V1ClusterRoleBinding, wanted: V1ClusterRoleBinding): boolean {
  const subjects = (binding: V1ClusterRoleBinding) =>
    JSON.stringify(
      (binding.subjects ?? []).map((s) => [s.apiGroup ?? "", s.kind, s.name, s.namespace ?? ""]),
    );
  return (
    sameRoleRef(existing, wanted) &&
    subjects(existing) === subjects(wanted) &&
    sameLabels(existing.metadata?.labels, wanted.metadata?.labels ?? {})
  );
}

async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return undefined;
    throw error;
  }
}

/** Keeps the object's annotations (kubectl's bookkeeping) and resourceVersion; replaces the rest. */
function replacing<T extends V1ClusterRole | V1ClusterRoleBinding>(wanted: T, existing: T): T {
  return {
    ...wanted,
    metadata: {
      ...wanted.metadata,
      ...(existing.metadata?.annotations ? { annotations: existing.metadata.annotations } : {}),
      ...(existing.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
    },
  };
}

export async function applyClusterRole(
  api: RbacAuthorizationV1Api,
  wanted: V1ClusterRole,
  dryRun: boolean,
): Promise<ApplyResult> {
  const name = wanted.metadata?.name ?? RBAC_NAME;
  const dry = dryRun ? { dryRun: "All" } : {};
  const existing = await readOrUndefined(() => api.readClusterRole({ name }));
  if (!existing) {
    await api.createClusterRole({ body: wanted, ...dry });
    return "created";
  }
  if (roleMatches(existing, wanted)) return "unchanged";
  await api.replaceClusterRole({ name, body: replacing(wanted, existing), ...dry });
  return "updated";
}

export async function applyClusterRoleBinding(
  api: RbacAuthorizationV1Api,
  wanted: V1ClusterRoleBinding,
  dryRun: boolean,
): Promise<ApplyResult> {
  const name = wanted.metadata?.name ?? RBAC_NAME;
  const dry = dryRun ? { dryRun: "All" } : {};
  const existing = await readOrUndefined(() => api.readClusterRoleBinding({ name }));
  if (!existing) {
    await api.createClusterRoleBinding({ body: wanted, ...dry });
    return "created";
  }
  if (bindingMatches(existing, wanted)) return "unchanged";
  if (!sameRoleRef(existing, wanted)) {
    // roleRef is immutable: the binding has to be deleted and created again.
    await api.deleteClusterRoleBinding({ name, ...dry });
    await api.createClusterRoleBinding({ body: wanted, ...dry }).catch(async (error: unknown) => {
      // A server-side dry-run delete leaves the old binding, so the dry-run create says 409.
      if (dryRun && error instanceof ApiException && error.code === 409) return;
      throw error;
    });
    return "replaced";
  }
  await api.replaceClusterRoleBinding({ name, body: replacing(wanted, existing), ...dry });
  return "updated";
}

export function accessEntryCommand(target: EksTarget, group: string, principalArn?: string): string {
  return [
    "aws eks create-access-entry",
    `--region ${target.region}`,
    `--cluster-name ${target.clusterName ?? "<cluster-name>"}`,
    `--principal-arn ${principalArn ?? "<approver role ARN: stack output ApproverRoleArn>"}`,
    "--type STANDARD",
    `--kubernetes-groups ${group}`,
  ].join(" \\\n    ");
}

function describeApiError(error: unknown): string {
  if (error instanceof ApiException) {
    const body = error.body as { message?: unknown } | string | undefined;
    const message =
      typeof body === "object" && body !== null && typeof body.message === "string"
        ? body.message
        : undefined;
    return `HTTP ${error.code}${message ? `: ${message}` : ""}`;
  }
  return errorMessage(error);
}

export async function runSetupCluster(argv: string[], io: CliIo): Promise<number> {
  const values = parseCommandArgs(setupClusterCommand, argv);
  if (values.help) {
    io.stdout(formatHelp(setupClusterCommand));
    return 0;
  }
  const group = stringOption(values, "group") ?? APPROVER_GROUP;
  checkGroup(group);
  const principalArn = stringOption(values, "principal-arn");
  if (principalArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(principalArn)) {
    throw usage(`--principal-arn '${principalArn}': expected an IAM role ARN`);
  }
  const dryRun = values["dry-run"] === true;
  const kc = loadKubeConfig(io, stringOption(values, "kubeconfig"), stringOption(values, "context"), usage);
  const api = kc.makeApiClient(RbacAuthorizationV1Api);
  const server = kc.getCurrentCluster()?.server ?? "";
  const suffix = dryRun ? " (dry run)" : "";

  io.stdout(`Cluster ${server} (context ${kc.currentContext || "-"})${suffix}\n`);
  const steps: [string, () => Promise<ApplyResult>][] = [
    [
      `clusterrole.rbac.authorization.k8s.io/${RBAC_NAME}`,
      () => applyClusterRole(api, approverClusterRole(), dryRun),
    ],
    [
      `clusterrolebinding.rbac.authorization.k8s.io/${RBAC_NAME}`,
      () => applyClusterRoleBinding(api, approverClusterRoleBinding(group), dryRun),
    ],
  ];
  for (const [what, apply] of steps) {
    try {
      io.stdout(`${what} ${await apply()}${suffix}\n`);
    } catch (error) {
      io.stderr(`${PROGRAM} setup-cluster: ${what}: ${describeApiError(error)}\n`);
      return 1;
    }
  }
  io.stdout(`Group ${group} may now read kubelet-serving CSRs and Nodes and approve kubelet-serving CSRs.\n`);

  const eks = eksTargetOf(kc);
  if (eks) {
    io.stdout(
      [
        "",
        "EKS: map the approver's IAM role to the group with an access entry (no access policy):",
        `  ${accessEntryCommand(eks, group, principalArn)}`,
        "(or list the cluster in the stack's eksAccessEntryClusters parameter, which creates the same entry)",
        "",
      ].join("\n"),
    );
  } else {
    io.stdout(
      `\nSelf-managed: give the approver a bearer token for an identity in ${group} and store it where the\nconfiguration's selfManaged[].credential points (Secrets Manager secret or SSM SecureString).\n`,
    );
  }
  return 0;
}
