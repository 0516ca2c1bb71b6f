// Programmatic entry to the rig, for vitest's global setup, `npm start` (sandbox) and the
// benchmarks: N independent clusters (each its own etcd, apiserver and CAs) plus one moto.
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  RIG_STATE_DIR,
  describeBuild,
  ensureBinaries,
  formatDuration,
  log,
  type RigBinaries,
} from "./build.js";
import { RigCluster, logCluster, type SignerMode } from "./cluster.js";
import { MOTO_CREDENTIALS, ensureMotoVenv, startMoto, type MotoServer } from "./moto.js";

export { RigCluster, type ClusterInfo, type RigIdentity, type SignerMode } from "./cluster.js";
export { MOTO_CREDENTIALS, MOTO_REGION, type MotoServer } from "./moto.js";

export interface RigOptions {
  clusters?: number; // default 2
  // Node names that get a static bearer token in every cluster (certs: nodeCredentials()).
  tokenNodes?: string[];
  // Extra kube-apiserver flags for every cluster, or per cluster index.
  extraApiserverArgs?: string[] | ((index: number) => string[]);
  moto?: boolean; // default true
  // Where cluster state and logs go (default .rig/run-<pid>, removed by a clean stop();
  // kept when the rig failed to start, or with RIG_KEEP_STATE=1).
  stateDir?: string;
}

export interface Rig {
  clusters: RigCluster[];
  moto: MotoServer | undefined;
  binaries: RigBinaries;
  startSeconds: number;
  stop(): Promise<void>;
}

export const DEFAULT_TOKEN_NODES = ["token-node-a", "token-node-b"];

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const started = Date.now();
  const count = options.clusters ?? 2;
  // moto's virtualenv (first run: a PyPI install) gets ready while kube-apiserver builds.
  const venv = options.moto === false ? undefined : ensureMotoVenv();
  venv?.catch(() => undefined); // reported by startMoto below
  let binaries: RigBinaries;
  try {
    binaries = await ensureBinaries();
  } catch (error) {
    await venv?.catch(() => undefined);
    throw error;
  }
  log(describeBuild(binaries));

  pruneStaleRuns();
  const stateDir = options.stateDir ?? join(RIG_STATE_DIR, `run-${process.pid}`);
  mkdirSync(stateDir, { recursive: true });
  const clusterStarts: Promise<RigCluster>[] = [];
  for (let index = 0; index < count; index++) {
    const extra = options.extraApiserverArgs;
    clusterStarts.push(
      RigCluster.start({
        name: `rig-${index + 1}`,
        dir: join(stateDir, `cluster-${index + 1}`),
        rigBinary: binaries.rig,
        apiserverBinary: binaries.apiserver,
        tokenNodes: options.tokenNodes ?? DEFAULT_TOKEN_NODES,
        extraApiserverArgs: typeof extra === "function" ? extra(index) : (extra ?? []),
      }),
    );
  }
  const motoStart =
    options.moto === false ? Promise.resolve(undefined) : startMoto({ logDir: stateDir, venv });
  const settled = await Promise.allSettled([motoStart, ...clusterStarts]);
  const failures = settled
    .filter((result) => result.status === "rejected")
    .map((result) => (result as PromiseRejectedResult).reason as Error);
  const clusters = settled
    .slice(1)
    .flatMap((result) => (result.status === "fulfilled" ? [result.value as RigCluster] : []));
  const moto = settled[0]?.status === "fulfilled" ? (settled[0].value as MotoServer | undefined) : undefined;

  const stopAll = async () => {
    await Promise.allSettled([...clusters.map((cluster) => cluster.stop()), moto?.stop()]);
  };
  if (failures.length > 0) {
    await stopAll();
    const reasons = failures.map((error) => error.message).join("\n\n");
    throw new Error(`the test rig could not start (logs kept in ${stateDir}):\n${reasons}`);
  }
  const stop = async () => {
    await stopAll();
    if (!options.stateDir && process.env.RIG_KEEP_STATE !== "1")
      rmSync(stateDir, { recursive: true, force: true });
  };
  for (const cluster of clusters) logCluster(cluster);
  if (moto)
    log(`moto: ${moto.endpoint} (region ${moto.region}, credentials ${MOTO_CREDENTIALS.accessKeyId})`);
  const startSeconds = (Date.now() - started) / 1000;
  log(`rig started in ${formatDuration(startSeconds)} (${count} cluster(s)${moto ? " + moto" : ""})`);
  return { clusters, moto, binaries, startSeconds, stop };
}

// Run directories of processes that no longer exist (a killed test run) are just litter.
function pruneStaleRuns(): void {
  if (!existsSync(RIG_STATE_DIR)) return;
  for (const entry of readdirSync(RIG_STATE_DIR)) {
    const pid = /^run-(\d+)$/.exec(entry)?.[1];
    if (!pid || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      rmSync(join(RIG_STATE_DIR, entry), { recursive: true, force: true });
    }
  }
}

// One more cluster, e.g. from a test file that needs its own apiserver flags (an EKS token
// webhook): `const c = await startCluster({ extraApiserverArgs: [...] }); ... await c.stop()`.
export async function startCluster(
  options: {
    name?: string;
    tokenNodes?: string[];
    extraApiserverArgs?: string[];
    dir?: string;
    signer?: SignerMode;
  } = {},
): Promise<RigCluster> {
  const binaries = await ensureBinaries();
  const name = options.name ?? `extra-${process.pid}-${Date.now().toString(36)}`;
  return RigCluster.start({
    name,
    dir: options.dir ?? join(RIG_STATE_DIR, `run-${process.pid}`, name),
    rigBinary: binaries.rig,
    apiserverBinary: binaries.apiserver,
    tokenNodes: options.tokenNodes ?? DEFAULT_TOKEN_NODES,
    extraApiserverArgs: options.extraApiserverArgs ?? [],
    signer: options.signer ?? "sign",
  });
}
