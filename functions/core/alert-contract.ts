// The alert contract (SPEC §7): the SNS message the approver publishes, as one valibot
// schema. core/alert.ts writes its inferred type; the Slack notifier (functions/notify/
// blocks.ts) validates what arrives on the topic against it, so the two cannot drift apart.
// The kinds live here too, so core/plan.ts and core/fairness.ts name them without importing
// the alert builder (imports run one way: contract <- plan <- fairness <- alert).
//
// Chatbot's custom-notification schema types every additionalContext value as a string:
// lists travel as JSON text (requestedSans, ownedAddresses, reasons, certificateProblems,
// byKind, byReason, byNode) or comma-separated (reasonCodes), numbers and flags as text.
import * as v from "valibot";

export const ALERT_KINDS = [
  "denied", // a CSR was denied
  "would-deny", // dry-run: it would have been denied
  "left-pending", // `deny: false`: a failing CSR is left pending
  "flood-guard", // more approvals than maxApprovalsPerSweep: the rest were held
  "not-issued", // approved by us more than notIssuedAfterSeconds ago (10 minutes), still no certificate
  "failed", // a CSR we approved carries a Failed condition
  "node-flood", // one node has more pending CSRs than maxPendingPerNode: only its newest were examined
  "summary", // over maxAlertsPerSweep: the rest of the sweep's alerts, counted
  "approved-elsewhere", // someone else approved a CSR the policy would not approve (nothing written to it)
  "certificate-mismatch", // a CSR we approved was issued a certificate for other names or another key
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

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
