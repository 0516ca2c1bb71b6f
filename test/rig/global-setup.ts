// vitest globalSetup of the integration project: builds (first time) and starts moto and
// two clusters once for the whole run, hands their connection facts to the test files
// through provide/inject (see context.ts), and stops everything at the end. Anything that
// cannot start fails the run with its reason: the integration tests never skip.
import type { TestProject } from "vitest/node";
import type { ClusterInfo } from "./cluster.js";
import { describeBuild, formatDuration, log } from "./build.js";
import { startRig } from "./index.js";

export interface RigContext {
  clusters: ClusterInfo[];
  rigBinary: string;
  moto: { endpoint: string; region: string };
  startSeconds: number;
  firstBuildSeconds?: number;
  builtNow: boolean;
}

declare module "vitest" {
  export interface ProvidedContext {
    rig: RigContext;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const clusters = Number(process.env.RIG_CLUSTERS ?? "2");
  const rig = await startRig({ clusters });
  if (!rig.moto) throw new Error("the integration rig needs moto");
  const first = rig.clusters[0];
  if (!first) throw new Error("the integration rig started no cluster");
  project.provide("rig", {
    clusters: rig.clusters.map((cluster) => cluster.info),
    rigBinary: first.rigBinaryPath,
    moto: { endpoint: rig.moto.endpoint, region: rig.moto.region },
    startSeconds: rig.startSeconds,
    ...(rig.binaries.firstBuildSeconds !== undefined
      ? { firstBuildSeconds: rig.binaries.firstBuildSeconds }
      : {}),
    builtNow: rig.binaries.builtNow,
  });
  log(`rig start time ${formatDuration(rig.startSeconds)}; ${describeBuild(rig.binaries)}`);
  return async () => {
    const started = Date.now();
    await rig.stop();
    log(`rig stopped in ${formatDuration((Date.now() - started) / 1000)}`);
  };
}
