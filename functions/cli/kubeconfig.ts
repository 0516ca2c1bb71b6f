// Kubeconfig handling shared by `setup-cluster` and `sweep --kubeconfig`: loaded with
// @kubernetes/client-node's KubeConfig, as kubectl would (several KUBECONFIG files merged),
// so exec plugins (aws eks get-token, aws-iam-authenticator), client certificates and tokens
// all work.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { errorMessage } from "../sweep/report.js";
import type { CliIo } from "./args.js";

export interface EksTarget {
  clusterName?: string;
  region: string;
}

const EKS_HOST = /^[a-z0-9]+\.(?:[a-z0-9]+\.)?([a-z]{2}(?:-[a-z]+)+-\d{1,2})\.eks\.amazonaws\.com(?:\.cn)?$/i;
const EKS_CLUSTER_ARN = /^arn:aws[a-z-]*:eks:[a-z0-9-]+:\d{12}:cluster\/([A-Za-z0-9][A-Za-z0-9_-]*)$/;

/** EKS, when the API server is an EKS endpoint; the cluster's name from `aws eks get-token` or an ARN context. */
export function eksTargetOf(kc: KubeConfig): EksTarget | undefined {
  const cluster = kc.getCurrentCluster();
  let host: string;
  try {
    host = new URL(cluster?.server ?? "").hostname;
  } catch {
    return undefined;
  }
  const region = EKS_HOST.exec(host)?.[1]?.toLowerCase();
  if (!region) return undefined;
  const exec = kc.getCurrentUser()?.exec as { args?: unknown } | undefined;
  const args = Array.isArray(exec?.args)
    ? exec.args.filter((arg): arg is string => typeof arg === "string")
    : [];
  const flag = args.findIndex((arg) => arg === "--cluster-name" || arg === "--cluster-id" || arg === "-i");
  const fromArgs = flag >= 0 ? args[flag + 1] : undefined;
  const fromArn =
    EKS_CLUSTER_ARN.exec(cluster?.name ?? "")?.[1] ?? EKS_CLUSTER_ARN.exec(kc.currentContext)?.[1];
  const clusterName = fromArgs ?? fromArn;
  return { region, ...(clusterName ? { clusterName } : {}) };
}

/**
 * --kubeconfig, else KUBECONFIG (several files merged, as kubectl does), else ~/.kube/config.
 * No in-cluster or localhost fallback: this is a workstation command run by an admin.
 */
export function loadKubeConfig(
  io: CliIo,
  path: string | undefined,
  context: string | undefined,
  usage: (message: string) => Error,
): KubeConfig {
  const kc = new KubeConfig();
  const home = io.env.HOME ?? io.env.USERPROFILE;
  const files =
    path !== undefined
      ? [path]
      : io.env.KUBECONFIG
        ? io.env.KUBECONFIG.split(delimiter).filter(Boolean)
        : home && existsSync(join(home, ".kube", "config"))
          ? [join(home, ".kube", "config")]
          : [];
  if (files.length === 0) throw usage("no kubeconfig: give --kubeconfig FILE or set KUBECONFIG");
  const source = path !== undefined ? `--kubeconfig ${path}` : `kubeconfig ${files.join(delimiter)}`;
  try {
    const [first = "", ...rest] = files;
    kc.loadFromFile(first);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kc.mergeConfig(more);
    }
  } catch (error) {
    throw usage(`${source}: ${errorMessage(error)}`);
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      const known =
        kc
          .getContexts()
          .map((c) => c.name)
          .join(", ") || "none";
      throw usage(`--context '${context}': no such context (kubeconfig has: ${known})`);
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw usage("the kubeconfig has no current cluster: give --context");
  return kc;
}
