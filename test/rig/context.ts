// Test-side access to the rig started by global-setup.ts.
import { inject } from "vitest";
import { ClusterHandle } from "./cluster.js";
import { MOTO_CREDENTIALS } from "./moto.js";
import type { RigContext } from "./global-setup.js";

export interface RigHandles {
  clusters: ClusterHandle[];
  moto: { endpoint: string; region: string; credentials: typeof MOTO_CREDENTIALS };
  context: RigContext;
}

export function rig(): RigHandles {
  const context = inject("rig");
  if (!context) throw new Error("no rig provided: run the integration project (test/rig/global-setup.ts)");
  return {
    clusters: context.clusters.map((info) => new ClusterHandle(structuredClone(info), context.rigBinary)),
    moto: { ...context.moto, credentials: MOTO_CREDENTIALS },
    context,
  };
}

// SDK client config pointed at moto.
export function awsClientConfig(): {
  endpoint: string;
  region: string;
  credentials: typeof MOTO_CREDENTIALS;
} {
  const { moto } = rig();
  return { endpoint: moto.endpoint, region: moto.region, credentials: MOTO_CREDENTIALS };
}
