// The kinds of alert the approver publishes (SPEC §7), part of the alert contract
// (core/alert-contract.ts). On their own, with no dependency, so core/plan.ts and
// core/fairness.ts name them without importing the alert builder or the schema: imports run
// one way (kinds <- plan <- fairness <- alert).
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
