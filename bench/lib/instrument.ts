// Counters for the worker processes: Kubernetes calls per cluster (by wrapping the sweep's
// KubeApi through SweepDeps.kube), and new client connections (a diagnostics channel), which
// shows whether connections are reused.
import { subscribe } from "node:diagnostics_channel";
import { TLSSocket } from "node:tls";
import { kubeClient, type KubeApi, type KubeEndpoint } from "../../functions/sweep/csrs.js";
import type { KubeCallCounts } from "./job.js";

export function emptyKubeCounts(): KubeCallCounts {
  return { list: 0, nodeList: 0, writes: 0, reads: 0, watches: 0, listPages: 0, listItems: 0, listShrunk: 0 };
}

export interface KubeCounter {
  factory: (endpoint: KubeEndpoint) => KubeApi;
  byCluster: Map<string, KubeCallCounts>;
  reset(): void;
}

export function countingKube(): KubeCounter {
  const byCluster = new Map<string, KubeCallCounts>();
  const countsFor = (name: string): KubeCallCounts => {
    let counts = byCluster.get(name);
    if (!counts) {
      counts = emptyKubeCounts();
      byCluster.set(name, counts);
    }
    return counts;
  };
  const factory = (endpoint: KubeEndpoint): KubeApi => {
    const inner = kubeClient(endpoint);
    const counts = () => countsFor(endpoint.name);
    return {
      listKubeletServingCsrs: async (visit, pageSize) => {
        counts().list += 1;
        const stats = await inner.listKubeletServingCsrs(visit, pageSize);
        counts().listPages += stats.pages;
        counts().listItems += stats.items;
        counts().listShrunk += stats.shrunk ?? 0;
        return stats;
      },
      listNodes: () => {
        counts().nodeList += 1;
        return inner.listNodes();
      },
      readCsr: (name) => {
        counts().reads += 1;
        return inner.readCsr(name);
      },
      replaceConditions: (read, conditions) => {
        counts().writes += 1;
        return inner.replaceConditions(read, conditions);
      },
      watchKubeletServingCsrs: (onEvent, signal, resourceVersion) => {
        counts().watches += 1;
        return inner.watchKubeletServingCsrs(onEvent, signal, resourceVersion);
      },
      readNode: (name) => {
        counts().nodeList += 1;
        return inner.readNode(name);
      },
    };
  };
  return { factory, byCluster, reset: () => byCluster.clear() };
}

export interface ConnectionCounter {
  tcp: number;
  tls: number;
  reset(): void;
}

/** New client sockets, and of those the TLS ones (on the rig: the Kubernetes API only). */
export function countConnections(): ConnectionCounter {
  const counter: ConnectionCounter = {
    tcp: 0,
    tls: 0,
    reset() {
      counter.tcp = 0;
      counter.tls = 0;
    },
  };
  subscribe("net.client.socket", (message) => {
    counter.tcp += 1;
    if ((message as { socket?: unknown }).socket instanceof TLSSocket) counter.tls += 1;
  });
  return counter;
}
