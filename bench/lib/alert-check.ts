// Alert delivery as the harness checks it (SPEC §6 "Fairness and budgets", §7): every denial
// has its alert on its own, as a repeat of one sent within the window, or in the cluster's
// summary; the messages that reached the queue are exactly those the sweep says it sent.
import * as v from "valibot";
import { AlertMessageSchema } from "../../functions/core/alert-contract.js";
import type { AlertSink } from "../../test/rig/aws-seed.js";
import type { SweepRunResult } from "./job.js";

/** One SNS message read back from the queue subscribed to the alert topic. */
export interface DeliveredAlert {
  cluster: string;
  kind: string;
  csr?: string;
  node?: string;
}

/** Reads the queue until it is empty (each message is removed as it is read). */
export async function drainDelivered(alerts: AlertSink): Promise<DeliveredAlert[]> {
  const out: DeliveredAlert[] = [];
  for (;;) {
    const batch = await alerts.receive(1);
    if (batch.length === 0) return out;
    for (const message of batch) {
      // The alert contract (core/alert-contract.ts), as the Slack notifier reads it; a message
      // off the contract is counted, its kind unknown.
      const read = v.safeParse(AlertMessageSchema, parseJson(message.Body));
      const context = read.success ? read.output.metadata.additionalContext : undefined;
      out.push({
        cluster: context?.cluster ?? "?",
        kind: context?.alertKind ?? "?",
        ...(context?.csr !== undefined ? { csr: context.csr } : {}),
        ...(context?.node !== undefined ? { node: context.node } : {}),
      });
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export interface ClusterAlertTally {
  cluster: string;
  messages: number;
  alertsSent: number;
  byKind: Record<string, number>;
  deliveries: { alert: number; repeat: number; summary: number };
}

/**
 * Checks one sweep's alerts against what the queue received. `freshHistory`: the cluster held
 * no earlier alert markers, so every repeat must repeat an alert sent in this very sweep.
 * Returns the tally per cluster; calls `problem` for anything wrong.
 */
export function checkAlertDelivery(
  label: string,
  run: SweepRunResult,
  delivered: readonly DeliveredAlert[],
  freshHistory: boolean,
  problem: (message: string) => void,
): ClusterAlertTally[] {
  const tallies: ClusterAlertTally[] = [];
  const sentTotal = run.clusters.reduce((n, c) => n + c.alertsSent, 0);
  if (delivered.length !== sentTotal)
    problem(`${label}: ${delivered.length} SNS messages delivered, the sweep reports ${sentTotal} sent`);
  for (const c of run.clusters) {
    const mine = delivered.filter((m) => m.cluster === c.cluster);
    const byKind: Record<string, number> = {};
    for (const m of mine) byKind[m.kind] = (byKind[m.kind] ?? 0) + 1;
    const deliveries = { alert: 0, repeat: 0, summary: 0 };
    const denialKey = (o: { requester?: string; reasons: string[] }) =>
      `${o.requester ?? ""}\n${[...new Set(o.reasons)].sort().join("+")}`;
    const alertedKeys = new Set(
      c.csrs.filter((o) => o.action === "denied" && o.delivery === "alert").map((o) => denialKey(o)),
    );
    const deniedCsrsMessaged = new Set(mine.filter((m) => m.kind === "denied").map((m) => m.csr));
    for (const o of c.csrs) {
      if (o.delivery === "alert" || o.delivery === "repeat" || o.delivery === "summary")
        deliveries[o.delivery] += 1;
      if (o.action !== "denied") continue;
      if (o.delivery !== "alert" && o.delivery !== "repeat" && o.delivery !== "summary") {
        problem(
          `${label}: ${c.cluster}/${o.name} denied without an alert (delivery ${o.delivery ?? "none"})`,
        );
        continue;
      }
      if (o.delivery === "alert" && !deniedCsrsMessaged.has(o.name))
        problem(`${label}: ${c.cluster}/${o.name} denied with its own alert, but no such message arrived`);
      if (o.delivery === "repeat" && freshHistory && !alertedKeys.has(denialKey(o)))
        problem(
          `${label}: ${c.cluster}/${o.name} denied as a repeat, but no alert for the same node and reasons went out`,
        );
    }
    const summaries = byKind.summary ?? 0;
    if (deliveries.summary > 0 && summaries !== 1)
      problem(
        `${label}: ${c.cluster}: ${deliveries.summary} denials in the summary, ${summaries} summary messages`,
      );
    if (deliveries.summary === 0 && summaries !== 0)
      problem(`${label}: ${c.cluster}: a summary message arrived but no denial was summarised`);
    if (mine.length !== c.alertsSent)
      problem(
        `${label}: ${c.cluster}: ${mine.length} SNS messages delivered, the sweep reports ${c.alertsSent}`,
      );
    tallies.push({ cluster: c.cluster, messages: mine.length, alertsSent: c.alertsSent, byKind, deliveries });
  }
  return tallies;
}
