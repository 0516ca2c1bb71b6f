// `npm start` (entry: main.ts): the whole product working on this machine. Brings up the local rig (one real
// kube-apiserver + etcd, moto), runs the sandbox scenario with the real sweep, prints what
// happened, and exits 0 only when every hostile CSR was denied and every legitimate one
// approved.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { RIG_STATE_DIR, formatDuration } from "../test/rig/build.js";
import type { ClusterHandle } from "../test/rig/cluster.js";
import { MOTO_CREDENTIALS, startRig, type Rig, type RigCluster } from "../test/rig/index.js";
import { alignedTable } from "../functions/cli/format.js";
import {
  formatAccount,
  formatAlerts,
  formatDecisions,
  formatJsonLines,
  formatNextSteps,
  formatServing,
  formatStoredState,
  formatVerdict,
} from "./print.js";
import {
  runSandboxScenario,
  SANDBOX_CLUSTER,
  SANDBOX_NODE_NAME_TEMPLATES,
  type ScenarioResult,
} from "./scenario.js";

export const HELP = `npm start [-- OPTIONS]

Runs the approver's main job on this machine, end to end: builds (first run only, with
progress) and starts a local kube-apiserver + etcd and moto (a local AWS), seeds a small
account (VPCs, instances with several ENIs, Elastic IPs, IPv6, a resource-name hostname, a
terminated twin whose IP was reused, a kubespray node named by its Name tag), has the nodes ask for serving certificates as the
kubelet does, adds hostile requests, runs the real sweep with alerts to SNS, and prints the
decisions, the state read back from the apiserver and the alerts read back from the topic.

It ends as metrics-server would: a TLS client trusting only the cluster CA checks each
approved node's issued certificate at the node's IP and DNS name.

Exit status: 0 when every hostile request was denied (and got no certificate) and every
legitimate one approved, issued and verified over TLS;
1 otherwise (what went wrong is printed), or when the rig could not start; 2 on a bad option.

Options:
  --keep    keep the rig running after the run and print how to look at it (kubectl, curl,
            csr-approver sweep against it) until Ctrl-C
  --no-sweep  with --keep: seed the account and create the CSRs, but decide nothing; they
            stay pending for another approver (or kubectl), and it prints how to point one at it
  --json    print the decisions as JSON lines on stdout (one object per CSR); everything
            else goes to stderr
  --clean   remove the rig's state and caches (.rig/: built binaries, moto's virtualenv,
            logs) and exit; the Go build and module caches are kept, so the next build is quick
  --help    this text

Needs Go >= 1.26 and Python 3 on PATH. More: docs/sandbox.md`;

export interface Options {
  keep: boolean;
  noSweep: boolean;
  json: boolean;
  clean: boolean;
  help: boolean;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      keep: { type: "boolean" },
      "no-sweep": { type: "boolean" },
      json: { type: "boolean" },
      clean: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values["no-sweep"] === true && values.keep !== true) {
    throw new Error("--no-sweep leaves the CSRs for another tool, so it needs --keep");
  }
  return {
    keep: values.keep === true,
    noSweep: values["no-sweep"] === true,
    json: values.json === true,
    clean: values.clean === true,
    help: values.help === true,
  };
}

export async function main(argv: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`npm start: ${(error as Error).message}\n(npm start -- --help for the options)\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (options.clean) return cleanRigState(RIG_STATE_DIR);

  // --json: stdout carries only the JSON lines; the rig's progress and all text go to stderr.
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  if (options.json)
    process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const say = (text: string) => void process.stdout.write(text);
  const emit = (text: string) => void stdoutWrite(text);

  say(
    "csr-approver sandbox: a real kube-apiserver and a local AWS (moto) on this machine.\n" +
      "Starting the rig (the first run builds kube-apiserver from source: 10-25 min, with progress)...\n",
  );
  const stateDir = join(RIG_STATE_DIR, `sandbox-${process.pid}`);
  let rig: Rig | undefined;
  let stopping = false;
  const shutdown = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      await rig?.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
    process.exit(code);
  };
  // Ctrl-C while starting or running: stop the apiserver, etcd and moto rather than orphan them.
  const onSignal = () => {
    say("\ninterrupted: stopping the rig\n");
    void shutdown(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    rig = await startRig({ clusters: 1, stateDir });
  } catch (error) {
    say(`\nThe rig could not start: ${(error as Error).message}\n`);
    say(
      "It needs Go >= 1.26 (to build kube-apiserver) and Python 3 (for moto) on PATH; see docs/sandbox.md.\n",
    );
    return shutdown(1);
  }
  const cluster = rig.clusters[0];
  if (!cluster || !rig.moto) {
    say("The rig started without a cluster or moto.\n");
    return shutdown(1);
  }

  let result: ScenarioResult;
  const started = Date.now();
  try {
    result = await runSandboxScenario(
      {
        cluster,
        moto: { endpoint: rig.moto.endpoint, region: rig.moto.region, credentials: MOTO_CREDENTIALS },
      },
      { progress: (message) => say(`▸ ${message}\n`), noSweep: options.noSweep },
    );
  } catch (error) {
    say(`\nThe scenario could not run: ${(error as Error).stack ?? String(error)}\n`);
    return shutdown(1);
  }
  say(`▸ scenario done in ${formatDuration((Date.now() - started) / 1000)}\n`);

  if (options.noSweep) {
    // Nothing decided: show what is pending and how to point another approver at it.
    const decided = result.cases.filter((verdict) => verdict.stored !== "Pending");
    say(
      formatAccount(result) + pendingCases(result) + keepInstructions(cluster, rig, result, stateDir, true),
    );
    for (const verdict of decided) say(`FAILED: ${verdict.case.csr} is ${verdict.stored}, not pending\n`);
    return holdUntilInterrupted(onSignal, say, shutdown, decided.length === 0 ? 0 : 1);
  }

  if (options.json) emit(formatJsonLines(result));
  else
    say(
      [
        formatAccount(result),
        formatDecisions(result),
        formatStoredState(result),
        formatAlerts(result),
        formatServing(result),
      ].join(""),
    );
  say(formatVerdict(result));
  const code = result.problems.length === 0 ? 0 : 1;

  if (options.keep) {
    say(keepInstructions(cluster, rig, result, stateDir));
    return holdUntilInterrupted(onSignal, say, shutdown, code);
  }
  say(formatNextSteps());
  return shutdown(code);
}

/** --keep: the rig runs until Ctrl-C, then stops. */
async function holdUntilInterrupted(
  onSignal: () => void,
  say: (text: string) => void,
  shutdown: (code: number) => Promise<never>,
  code: number,
): Promise<never> {
  process.removeListener("SIGINT", onSignal);
  process.removeListener("SIGTERM", onSignal);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  say("\nstopping the rig\n");
  return shutdown(code);
}

/** --no-sweep: the pending CSRs and what the approver is expected to decide for each. */
export function pendingCases(result: ScenarioResult): string {
  const rows = result.cases.map((verdict) => [
    verdict.case.id,
    verdict.case.csr,
    verdict.case.requester,
    verdict.stored,
    `${verdict.case.expected.decision}${verdict.case.expected.code ? ` ${verdict.case.expected.code}` : ""}`,
  ]);
  const lines = [
    "",
    `Pending CSRs on cluster "${result.clusterName}" (nothing decided them) and what an approver should do`,
    ...alignedTable(["CASE", "CSR", "REQUESTER", "NOW", "SHOULD BE"], rows),
  ];
  return `${lines.join("\n")}\n`;
}

function onPath(command: string): boolean {
  try {
    execFileSync(command, ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** What to type to look at the running sandbox; writes a csr-approver config for it. */
export function keepInstructions(
  cluster: RigCluster | ClusterHandle,
  rig: Pick<Rig, "moto">,
  result: ScenarioResult,
  stateDir: string,
  pending = false,
): string {
  const admin = cluster.admin;
  const configFile = join(stateDir, "sandbox-config.yaml");
  writeFileSync(
    configFile,
    stringify({
      regions: ["us-east-1"],
      eks: { discovery: false },
      selfManaged: [
        {
          name: SANDBOX_CLUSTER,
          region: "us-east-1",
          endpoint: cluster.server,
          caData: cluster.caPem,
          credential: { secretsManager: result.secretArn },
          vpcIds: [result.vpcId],
          clusterTag: { key: "kubernetes.io/cluster/{{cluster}}", values: ["owned", "shared"] },
          nodeNameTemplates: SANDBOX_NODE_NAME_TEMPLATES,
        },
      ],
    }),
  );
  const lines = [
    "",
    "The sandbox keeps running (Ctrl-C stops it and removes its state).",
    "",
    `  apiserver:          ${cluster.server}`,
    `  admin kubeconfig:   ${admin.kubeconfig}`,
    `  approver kubeconfig: ${cluster.approver.kubeconfig}`,
    `  moto (AWS):         ${rig.moto?.endpoint ?? "-"} (region us-east-1, access key ${MOTO_CREDENTIALS.accessKeyId})`,
    "",
  ];
  if (onPath("kubectl")) {
    lines.push(
      "Look at the CSRs and nodes:",
      `  kubectl --kubeconfig ${admin.kubeconfig} get csr`,
      `  kubectl --kubeconfig ${admin.kubeconfig} get csr ${result.cases[0]?.case.csr ?? "<name>"} -o yaml`,
      `  kubectl --kubeconfig ${admin.kubeconfig} get nodes`,
    );
  } else {
    lines.push(
      "kubectl is not installed here; the same list with curl:",
      `  curl --cacert ${cluster.info.caFile} --cert ${admin.certFile} --key ${admin.keyFile} \\`,
      `    ${cluster.server}/apis/certificates.k8s.io/v1/certificatesigningrequests`,
    );
  }
  const awsEnv = `AWS_ENDPOINT_URL=${rig.moto?.endpoint ?? ""} AWS_ACCESS_KEY_ID=${MOTO_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${MOTO_CREDENTIALS.secretAccessKey} AWS_REGION=us-east-1`;
  if (pending) {
    lines.push(
      "",
      "Every CSR is pending. Point another approver at the cluster with the approver's kubeconfig",
      "(RBAC of infra/rbac.yaml: read CSRs and Nodes, approve/deny kubelet-serving only):",
      `  KUBECONFIG=${cluster.approver.kubeconfig} <your approver>`,
      "  (e.g. postfinance/kubelet-csr-approver; its flags against this approver's settings: docs/migration.md)",
      "Decide by hand with kubectl:",
      `  kubectl --kubeconfig ${admin.kubeconfig} certificate approve|deny <csr>`,
      "Or let this approver decide, through the kubeconfig (nothing stored in AWS), read-only first:",
      `  ${awsEnv} \\`,
      // --config: the cluster's settings (its nodeNameTemplates name the kubespray node).
      `    npx --no-install csr-approver sweep --dry-run --kubeconfig ${cluster.approver.kubeconfig} --cluster ${SANDBOX_CLUSTER} --cluster-vpc ${result.vpcId} --config ${relative(process.cwd(), configFile)}`,
      "  (without --dry-run it approves and, with --topic-arn, denies; this sandbox's topic: " +
        `${result.topicArn})`,
      "",
    );
    return lines.join("\n");
  }
  lines.push(
    "",
    "Run the CLI's sweep against it (read-only), exactly as you would against your own clusters:",
    `  AWS_ENDPOINT_URL=${rig.moto?.endpoint ?? ""} AWS_ACCESS_KEY_ID=${MOTO_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${MOTO_CREDENTIALS.secretAccessKey} AWS_REGION=us-east-1 \\`,
    `    npx --no-install csr-approver sweep --dry-run --config ${relative(process.cwd(), configFile)}`,
    "  (everything is decided already, so it finds nothing pending; --output json shows the report)",
    "",
  );
  return lines.join("\n");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Processes that still use .rig/: rig runs (run-PID, sandbox-PID) and builds (bin/.tmp-PID). */
export function rigUsers(stateDir: string): number[] {
  const pids: number[] = [];
  const scan = (dir: string, pattern: RegExp) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      const pid = Number(pattern.exec(entry)?.[1]);
      if (pid && pid !== process.pid && alive(pid)) pids.push(pid);
    }
  };
  scan(stateDir, /^(?:run|sandbox)-(\d+)$/);
  scan(join(stateDir, "bin"), /^\.tmp-(\d+)$/);
  return pids;
}

/** --clean: removes the rig's state directory unless a live process still uses it. */
export function cleanRigState(stateDir: string): number {
  if (!existsSync(stateDir)) {
    process.stdout.write(`nothing to clean: ${stateDir} does not exist\n`);
    return 0;
  }
  const users = rigUsers(stateDir);
  if (users.length > 0) {
    process.stderr.write(
      `npm start -- --clean: ${stateDir} is in use by process(es) ${users.join(", ")} (a running rig or build); stop them first\n`,
    );
    return 1;
  }
  rmSync(stateDir, { recursive: true, force: true });
  let goCache = "the Go build cache";
  try {
    goCache += ` (${execFileSync("go", ["env", "GOCACHE"], { encoding: "utf8" }).trim()})`;
  } catch {
    // no Go: nothing more to say about its cache
  }
  process.stdout.write(
    `removed ${stateDir} (built binaries, moto's virtualenv, logs, cluster state)\n` +
      `kept ${goCache} and the Go module cache: the next \`npm start\` rebuilds kube-apiserver from them\n`,
  );
  return 0;
}
