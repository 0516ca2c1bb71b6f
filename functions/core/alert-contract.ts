// The alert contract (SPEC §7): the SNS message the approver publishes, as one valibot
// schema. core/alert.ts writes its inferred type (types only: the approver's bundle carries
// no schema); the Slack notifier (functions/notify/blocks.ts) validates what arrives on the
// topic against it, so the two cannot drift apart.
//
// Chatbot's custom-notification schema types every additionalContext value as a string:
// lists travel as JSON text (requestedSans, ownedAddresses, reasons, certificateProblems,
// byKind, byReason, byNode) or comma-separated (reasonCodes), numbers and flags as text.
import * as v from "valibot";
import { ALERT_KINDS } from "./alert-kinds.js";

export { ALERT_KINDS, type AlertKind } from "./alert-kinds.js";

const text = v.string();
const optionalText = v.optional(text);
const flag = v.picklist(["true", "false"]);

/** `metadata.additionalContext`: the exact values (sanitised, bounded), unrendered. */
export const AlertContextFieldsSchema = v.object({
  alertKind: v.picklist(ALERT_KINDS),
  region: text,
  cluster: text,
  clusterKind: text,
  /** Comma-separated. */
  clusterVpcIds: text,
  dryRun: flag,
  /** ISO 8601. */
  time: text,
  account: optionalText,
  // The policy's decision about the CSR (every kind but the cluster-wide ones).
  csr: optionalText,
  decision: optionalText,
  /** Comma-separated reason codes. */
  reasonCodes: optionalText,
  /** JSON list of "CODE: message". */
  reasons: optionalText,
  node: optionalText,
  requester: optionalText,
  instanceId: optionalText,
  /** JSON of {dnsNames, ips, other}. */
  requestedSans: optionalText,
  /** JSON of {ips, dnsNames}. */
  ownedAddresses: optionalText,
  // flood-guard
  approved: optionalText,
  held: optionalText,
  maxApprovalsPerSweep: optionalText,
  // repeats left out since the last alert sent
  repeats: optionalText,
  lastAlertAt: optionalText,
  // node-flood
  pendingCsrs: optionalText,
  examinedCsrs: optionalText,
  // approved-elsewhere and certificate-mismatch
  certificateIssued: v.optional(flag),
  approvedByReason: optionalText,
  approvedByMessage: optionalText,
  approvedAt: optionalText,
  /** JSON list. */
  certificateProblems: optionalText,
  // summary
  summarizedAlerts: optionalText,
  alertBudget: optionalText,
  summarizedNodes: optionalText,
  /** JSON of {kind: count}. */
  byKind: optionalText,
  /** JSON of {code: count}. */
  byReason: optionalText,
  /** JSON list of {node, isNode, count, reasonCodes}. */
  byNode: optionalText,
});
export type AlertContextFields = v.InferOutput<typeof AlertContextFieldsSchema>;
export type AlertContextKey = keyof AlertContextFields;

/** The SNS message body: an Amazon Q Developer in chat applications custom notification. */
export const AlertMessageSchema = v.object({
  version: v.literal("1.0"),
  source: v.literal("custom"),
  id: text,
  content: v.object({
    textType: v.literal("client-markdown"),
    title: text,
    description: text,
    nextSteps: v.array(text),
  }),
  metadata: v.object({
    summary: text,
    eventType: text,
    threadId: text,
    additionalContext: AlertContextFieldsSchema,
  }),
});
export type ChatbotNotification = v.InferOutput<typeof AlertMessageSchema>;
