// Alert messages (SPEC §7): an Amazon Q Developer in chat applications (AWS Chatbot) custom
// notification as the SNS message body, plus the SNS message attributes subscription filter
// policies match on. Pure: time and account come in as values.
//
// API
//   buildAlert(ctx: AlertContext) -> Alert { message, attributes, subject }
//   type AlertContext, type Alert
//   ALERT_KINDS, type AlertKind (core/alert-kinds.ts), type ChatbotNotification, type
//     AlertContextFields: the alert contract's (core/alert-contract.ts: the schema the Slack
//     notifier validates against; only its types here, so the approver carries no schema)
//   ALERT_LIMITS: the size limits applied (see below)
//   alertTitle(kind) -> the kind's title in our own words (Slack header)
//
// Shape: {"version":"1.0","source":"custom","id",
//         "content":{"textType":"client-markdown","title","description","nextSteps":[…]},
//         "metadata":{"summary","eventType","threadId","additionalContext":{…}}}
// Chatbot's schema types every additionalContext value as a string, so lists travel as JSON
// text (requestedSans, ownedAddresses) or comma-separated (reasonCodes). Everything that
// comes from the CSR or the cluster (CSR and node names, requester, SANs, cluster names,
// reason and error messages quoting them) is attacker-controlled: in title, description,
// next steps and summary it appears only through `code()` (core/text.ts: a code span, one
// line, backticks neutralised, nothing a chat renderer turns into a mention or link), and
// every text is cut by code point with `cutMarkup`, which never leaves a code span open.
// additionalContext keeps the exact values (sanitised, bounded), unrendered. Every list and
// string is bounded so the message stays under SNS's 256 KiB whatever the CSR holds; cut
// lists end with "(+N more)".
import { chatCode, chatLiteral, cut, cutMarkup, sanitize } from "./text.js";
import type { AlertContextFields, ChatbotNotification } from "./alert-contract.js";
import { ALERT_KINDS, type AlertKind } from "./alert-kinds.js";
import type { DenialSummary } from "./fairness.js";
import type { ClusterFacts, Decision } from "./types.js";

// The contract's names, where the alert's users have always found them.
export { ALERT_KINDS, type AlertContextFields, type AlertKind, type ChatbotNotification };

export interface AlertContext {
  kind: AlertKind;
  cluster: ClusterFacts;
  /** The policy's decision about the CSR (every kind but flood-guard). */
  decision?: Decision;
  dryRun: boolean;
  now: Date;
  account?: string;
  /** flood-guard: approvals made, CSRs held back, the configured limit. */
  floodGuard?: { approved: number; held: number; limit: number };
  /** Similar alerts (same kind, node, reasons and requested names) left out as repeats since the last one sent. */
  repeats?: { count: number; lastAlertAt?: Date };
  /** node-flood: the node, its pending CSRs, how many were examined. */
  nodeFlood?: { node: string; pending: number; examined: number };
  /** summary: what the sweep's alerts over the budget were about. */
  summary?: DenialSummary & { budget: number };
  /**
   * approved-elsewhere: who approved (the Approved condition's reason and message, as the API
   * shows them) and whether a certificate was issued; certificate-mismatch: what differs.
   */
  audit?: {
    approver?: { reason: string; message: string; at?: string };
    issued: boolean;
    problems?: string[];
  };
}

export interface Alert {
  /** The SNS message body: JSON of a ChatbotNotification. */
  message: string;
  /** SNS message attributes: cluster, decision, reason, alertKind. */
  attributes: Record<string, { DataType: "String"; StringValue: string }>;
  /** SNS Subject, for e-mail subscribers: ≤ 100 printable ASCII characters. */
  subject: string;
}

/**
 * Our own bounds. SNS: 256 KiB for message plus attributes, Subject ≤ 100 ASCII characters.
 * Chatbot renders title/description into a Slack/Teams card, whose text blocks hold about
 * 3,000 characters: the description stays below that and the full facts live in
 * additionalContext.
 */
export const ALERT_LIMITS = {
  messageBytes: 240 * 1024, // leaves room for the attributes within SNS's 262,144 bytes
  title: 250,
  description: 3000,
  nextSteps: 5,
  nextStep: 300,
  inlineValue: 200, // one value quoted in title/description/summary
  listItemsInText: 10, // SANs/addresses listed in the description
  summaryRequestersInText: 10, // requesters a summary's description names (its JSON: all it has)
  attribute: 256,
  contextValue: 1024, // one scalar additionalContext value (names are ≤ 253 when legitimate)
  contextListItem: 1024, // one item of a list in additionalContext
  contextListItems: 1000, // items per list in additionalContext before shrinking further
} as const;

const EVENT_TYPES: Record<AlertKind, string> = {
  denied: "KubeletServingCsrDenied",
  "would-deny": "KubeletServingCsrWouldBeDenied",
  "left-pending": "KubeletServingCsrLeftPending",
  "flood-guard": "KubeletServingFloodGuardTripped",
  "not-issued": "KubeletServingCsrNotIssued",
  failed: "KubeletServingCsrFailed",
  "node-flood": "KubeletServingNodeFlood",
  summary: "KubeletServingAlertSummary",
  "approved-elsewhere": "KubeletServingCsrApprovedElsewhere",
  "certificate-mismatch": "KubeletServingCertificateMismatch",
};

const TITLES: Record<AlertKind, string> = {
  denied: ":no_entry: kubelet-serving CSR denied",
  "would-deny": ":warning: kubelet-serving CSR would be denied (dry-run)",
  "left-pending": ":warning: kubelet-serving CSR fails checks, left pending",
  "flood-guard": ":rotating_light: kubelet-serving approvals held: flood guard tripped",
  "not-issued": ":hourglass: approved kubelet-serving CSR has no certificate",
  failed: ":x: approved kubelet-serving CSR failed to sign",
  "node-flood": ":rotating_light: one node is flooding kubelet-serving CSRs",
  summary: ":bell: more kubelet-serving alerts this sweep (summary)",
  "approved-elsewhere": ":rotating_light: kubelet-serving CSR approved elsewhere fails the checks",
  "certificate-mismatch": ":rotating_light: issued kubelet-serving certificate differs from its request",
};

/**
 * A kind's title in our own words (no requester text), or undefined for an unknown kind: the
 * Slack notifier's plain-text header, which has no code spans to hold requester text.
 */
export function alertTitle(kind: string): string | undefined {
  return Object.hasOwn(TITLES, kind) ? TITLES[kind as AlertKind] : undefined;
}

export function buildAlert(ctx: AlertContext): Alert {
  // Shrink the lists in additionalContext until the whole message fits; the text parts are
  // already bounded, so this converges quickly.
  let listItems: number = ALERT_LIMITS.contextListItems;
  for (;;) {
    const notification = notificationFor(ctx, listItems);
    const message = JSON.stringify(notification);
    if (utf8Length(message) <= ALERT_LIMITS.messageBytes || listItems === 0) {
      return { message, attributes: attributesFor(ctx), subject: subjectFor(ctx) };
    }
    listItems = Math.floor(listItems / 2);
  }
}

function utf8Length(value: string): number {
  return new TextEncoder().encode(value).length;
}

function notificationFor(ctx: AlertContext, listItems: number): ChatbotNotification {
  const d = ctx.decision;
  const csr = d?.name;
  const cluster = ctx.cluster.name;
  const subjectOfAlert =
    csr !== undefined && ctx.kind !== "node-flood"
      ? `CSR ${code(csr)}`
      : ctx.nodeFlood
        ? `node ${code(ctx.nodeFlood.node)}`
        : `cluster ${code(cluster)}`;
  const summary = clip(
    `${TITLES[ctx.kind].replace(/^:[a-z_]+: /, "")}: ${subjectOfAlert} in ${code(cluster)}` +
      (d?.node !== undefined && ctx.kind !== "node-flood" ? ` for node ${code(d.node)}` : "") +
      (codes(d).length > 0 ? ` (${codes(d).join(", ")})` : ""),
    ALERT_LIMITS.title,
  );
  return {
    version: "1.0",
    source: "custom",
    id: cut(sanitize([ctx.kind, ctx.account ?? "-", ctx.cluster.region, cluster, csr ?? "-"].join(":")), 256),
    content: {
      textType: "client-markdown",
      title: clip(
        `${TITLES[ctx.kind]}: ${
          ctx.nodeFlood ? code(ctx.nodeFlood.node) : csr !== undefined ? code(csr) : code(cluster)
        }`,
        ALERT_LIMITS.title,
      ),
      description: clip(describe(ctx), ALERT_LIMITS.description),
      nextSteps: nextSteps(ctx)
        .slice(0, ALERT_LIMITS.nextSteps)
        .map((s) => clip(s, ALERT_LIMITS.nextStep)),
    },
    metadata: {
      summary,
      eventType: EVENT_TYPES[ctx.kind],
      threadId: threadId(ctx),
      additionalContext: additionalContext(ctx, listItems),
    },
  };
}

function codes(d: Decision | undefined): string[] {
  return (d?.reasons ?? []).map((r) => r.code);
}

function threadId(ctx: AlertContext): string {
  // One thread per node (or per cluster for cluster-wide alerts), so a flapping node's
  // alerts stay together in the channel.
  const who = ctx.decision?.node ?? ctx.decision?.name;
  const parts = ["csr-approver", ctx.account ?? "-", ctx.cluster.region, ctx.cluster.name];
  const perCluster = ctx.kind === "flood-guard" || ctx.kind === "summary";
  if (who !== undefined && !perCluster) parts.push(who);
  return clip(parts.map((p) => p.replace(/[^A-Za-z0-9._:-]/g, "_")).join("/"), 128);
}

function describe(ctx: AlertContext): string {
  const d = ctx.decision;
  const lines: string[] = [];
  const where = `*Cluster* ${code(ctx.cluster.name)} (${ctx.cluster.kind}, ${code(ctx.cluster.region)}${
    ctx.account ? `, account ${code(ctx.account)}` : ""
  })`;
  lines.push(where);
  if (ctx.dryRun) lines.push("*Mode* dry-run: nothing was written to the cluster");
  if (d) {
    lines.push(
      [
        `*CSR* ${code(d.name)}`,
        d.node !== undefined ? `*Node* ${code(d.node)}` : undefined,
        d.requester !== undefined ? `*Requester* ${code(d.requester)}` : undefined,
        d.instanceId !== undefined ? `*Instance* ${code(d.instanceId)}` : undefined,
      ]
        .filter(Boolean)
        .join(" · "),
    );
    if (d.reasons.length > 0) {
      lines.push("*Reasons*");
      for (const r of d.reasons.slice(0, ALERT_LIMITS.listItemsInText)) {
        lines.push(`• ${code(r.code)} ${code(r.message, 400)}`);
      }
      if (d.reasons.length > ALERT_LIMITS.listItemsInText) {
        lines.push(`• (+${d.reasons.length - ALERT_LIMITS.listItemsInText} more)`);
      }
    }
    if (d.requestedSans) {
      lines.push(
        `*Requested SANs* DNS: ${textList(d.requestedSans.dnsNames)}; IP: ${textList(d.requestedSans.ips)}` +
          (d.requestedSans.other.length > 0 ? `; other: ${textList(d.requestedSans.other)}` : ""),
      );
    }
    if (d.owned) {
      lines.push(`*Instance owns* IP: ${textList(d.owned.ips)}; DNS: ${textList(d.owned.dnsNames)}`);
    }
  }
  if (ctx.floodGuard) {
    const f = ctx.floodGuard;
    lines.push(
      `*Approved this sweep* ${f.approved} (limit ${f.limit}); *held pending* ${f.held}: ` +
        "they are approved by later sweeps if they still pass",
    );
  }
  if (ctx.repeats && ctx.repeats.count > 0) {
    lines.push(
      `*Repeats* ${ctx.repeats.count} similar alert(s) for this node, these reasons and these requested names were not sent on their own` +
        (ctx.repeats.lastAlertAt ? ` since the last one at ${ctx.repeats.lastAlertAt.toISOString()}` : ""),
    );
  }
  if (ctx.nodeFlood) {
    const f = ctx.nodeFlood;
    lines.push(
      `*Node* ${code(f.node)} has ${f.pending} pending kubelet-serving CSRs; only its newest ${f.examined} are examined per sweep. ` +
        "Other nodes are not held back.",
    );
  }
  if (ctx.summary) {
    const s = ctx.summary;
    lines.push(
      `*Over the alert budget* ${s.total} more alert(s) this sweep (budget ${s.budget}), about ${s.nodes} node(s); ` +
        "each CSR's decision is in the approver's logs and its conditions",
    );
    // Requesters first (nodes before any other requester, core/fairness.ts), each with its
    // reason codes, in a bounded number of lines so the cut of the description never drops it.
    const shown = s.byNode.slice(0, ALERT_LIMITS.summaryRequestersInText);
    lines.push(
      `*By node* ${shown
        .map(
          (n) =>
            `${n.isNode ? "" : "requester "}${code(n.node, 100)} ${n.count} (${truncateList(n.codes, 3).join(
              ", ",
            )})`,
        )
        .join(", ")}` + (s.nodes > shown.length ? ` (+${s.nodes - shown.length} more requesters)` : ""),
    );
    lines.push(`*By kind* ${s.byKind.map((k) => `${k.kind} ${k.count}`).join(", ")}`);
    lines.push(`*By reason* ${s.byCode.map((c) => `${c.code} ${c.count}`).join(", ")}`);
  }
  if (ctx.audit) {
    const a = ctx.audit;
    if (a.approver) {
      lines.push(
        `*Approved by* reason ${code(a.approver.reason || "(empty)", 100)}, message ${code(a.approver.message || "(empty)", 300)}` +
          (a.approver.at !== undefined ? ` at ${code(a.approver.at, 40)}` : "") +
          " (as the Approved condition says; the API audit log names the user)",
      );
      lines.push(
        "*Checked on* current EC2 facts: an instance terminated or re-addressed since the approval fails as well",
      );
    }
    for (const p of a.problems ?? []) lines.push(`• ${p}`);
    lines.push(
      a.issued
        ? "*Certificate* issued: the node holds it until it expires"
        : "*Certificate* not issued yet (the signer may still issue it)",
    );
  }
  lines.push(`*Time* ${ctx.now.toISOString()}`);
  return lines.join("\n");
}

function nextSteps(ctx: AlertContext): string[] {
  const d = ctx.decision;
  const csr = d ? inline(d.name) : "CSR_NAME";
  const instance = d?.instanceId !== undefined ? inline(d.instanceId) : undefined;
  const checkInstance = instance
    ? `Compare with EC2: \`aws ec2 describe-instances --region ${inline(ctx.cluster.region)} --instance-ids ${instance}\``
    : `No instance matched node ${d?.node !== undefined ? code(d.node) : ""}: check that it runs in ${code(ctx.cluster.region)} and in the cluster's VPC`;
  switch (ctx.kind) {
    case "denied":
      return [
        `Inspect the request: \`kubectl get csr ${csr} -o yaml\``,
        checkInstance,
        "If the node is legitimate, fix its names or addresses; the kubelet asks again with a new CSR",
        "If it is not, find who holds node credentials for this name (requester above)",
      ];
    case "would-deny":
      return [
        `Inspect the request: \`kubectl get csr ${csr} -o yaml\``,
        checkInstance,
        "Dry-run only: review such alerts before setting the cluster's `mode: enforce`",
      ];
    case "left-pending":
      return [
        `Inspect the request: \`kubectl get csr ${csr} -o yaml\``,
        checkInstance,
        `If it is not legitimate, deny it: \`kubectl certificate deny ${csr}\``,
        "`deny: false` for this cluster: the approver will not deny it itself",
      ];
    case "flood-guard":
      return [
        "Check for unexpected node churn or a burst of CSRs: `kubectl get csr --sort-by=.metadata.creationTimestamp`",
        "If the burst is expected (scale-up), raise `maxApprovalsPerSweep` for this cluster",
      ];
    case "not-issued":
      return [
        `Inspect: \`kubectl get csr ${csr} -o yaml\``,
        "Check that kube-controller-manager runs its csrsigning controller (on EKS: the control plane)",
      ];
    case "failed":
      return [
        `Read the Failed condition: \`kubectl get csr ${csr} -o jsonpath='{.status.conditions}'\``,
        "Check the signer's logs in kube-controller-manager",
      ];
    case "node-flood":
      return [
        "A kubelet files a new CSR about every 15 minutes while unanswered; many more means a misconfigured or compromised node",
        `List its CSRs: \`kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving\` and look at the requester above`,
        "If the node is compromised, cordon and replace the instance",
      ];
    case "summary":
      return [
        "Read the individual decisions in the approver's logs (one line per CSR) or with `kubectl get csr`",
        "Raise `maxAlertsPerSweep` only if the channel can take it: Slack webhooks accept about one message per second",
      ];
    case "approved-elsewhere":
      return [
        `Nothing was written to this CSR. Inspect it: \`kubectl get csr ${csr} -o yaml\`; the API server's audit log names who approved it`,
        "An issued certificate cannot be revoked: replace the node (cordon, drain, terminate the instance) so its key and certificate go with it",
        "If a certificate for another node's address or name was issued, consider rotating the cluster CA",
        "Remove or restrict the other approver (RBAC `signers` approve on `kubernetes.io/kubelet-serving`, `certificatesigningrequests/approval`)",
        checkInstance,
      ];
    case "certificate-mismatch":
      return [
        `Compare: \`kubectl get csr ${csr} -o jsonpath='{.status.certificate}' | base64 -d | openssl x509 -noout -text\``,
        "Find who wrote the certificate: the signer (kube-controller-manager's csrsigning) or someone with `certificatesigningrequests/status` rights",
        "The certificate cannot be revoked: replace the node; if the signer itself is wrong, consider rotating the cluster CA",
      ];
  }
}

function additionalContext(ctx: AlertContext, listItems: number): AlertContextFields {
  const d = ctx.decision;
  const scalar = (value: string): string => cleanClip(value, ALERT_LIMITS.contextValue);
  const context: AlertContextFields = {
    alertKind: ctx.kind,
    region: scalar(ctx.cluster.region),
    cluster: scalar(ctx.cluster.name),
    clusterKind: ctx.cluster.kind,
    clusterVpcIds: scalar(ctx.cluster.vpcIds.join(",")),
    dryRun: ctx.dryRun ? "true" : "false",
    time: ctx.now.toISOString(),
  };
  if (ctx.account !== undefined) context.account = scalar(ctx.account);
  if (d) {
    context.csr = scalar(d.name);
    context.decision = d.decision;
    context.reasonCodes = codes(d).join(",");
    context.reasons = jsonList(
      d.reasons.map((r) => `${r.code}: ${r.message}`),
      listItems,
    );
    if (d.node !== undefined) context.node = scalar(d.node);
    if (d.requester !== undefined) context.requester = scalar(d.requester);
    if (d.instanceId !== undefined) context.instanceId = scalar(d.instanceId);
    if (d.requestedSans) {
      context.requestedSans = jsonObject(
        {
          dnsNames: d.requestedSans.dnsNames,
          ips: d.requestedSans.ips,
          other: d.requestedSans.other,
        },
        listItems,
      );
    }
    if (d.owned)
      context.ownedAddresses = jsonObject({ ips: d.owned.ips, dnsNames: d.owned.dnsNames }, listItems);
  }
  if (ctx.floodGuard) {
    context.approved = String(ctx.floodGuard.approved);
    context.held = String(ctx.floodGuard.held);
    context.maxApprovalsPerSweep = String(ctx.floodGuard.limit);
  }
  if (ctx.repeats) {
    context.repeats = String(ctx.repeats.count);
    if (ctx.repeats.lastAlertAt) context.lastAlertAt = ctx.repeats.lastAlertAt.toISOString();
  }
  if (ctx.nodeFlood) {
    context.node = scalar(ctx.nodeFlood.node);
    context.pendingCsrs = String(ctx.nodeFlood.pending);
    context.examinedCsrs = String(ctx.nodeFlood.examined);
  }
  if (ctx.audit) {
    context.certificateIssued = ctx.audit.issued ? "true" : "false";
    if (ctx.audit.approver) {
      context.approvedByReason = scalar(ctx.audit.approver.reason);
      context.approvedByMessage = scalar(ctx.audit.approver.message);
      if (ctx.audit.approver.at !== undefined) context.approvedAt = scalar(ctx.audit.approver.at);
    }
    if (ctx.audit.problems) context.certificateProblems = jsonList(ctx.audit.problems, listItems);
  }
  if (ctx.summary) {
    const s = ctx.summary;
    context.summarizedAlerts = String(s.total);
    context.alertBudget = String(s.budget);
    context.summarizedNodes = String(s.nodes);
    context.byKind = JSON.stringify(Object.fromEntries(s.byKind.map((k) => [k.kind, k.count])));
    context.byReason = JSON.stringify(Object.fromEntries(s.byCode.map((c) => [c.code, c.count])));
    context.byNode = JSON.stringify(
      s.byNode.slice(0, listItems).map((n) => ({
        node: contextItem(n.node),
        isNode: n.isNode,
        count: n.count,
        reasonCodes: n.codes.join(","),
      })),
    );
  }
  return context;
}

/** A list cut to `max` items, a "(+N more)" marker standing for the rest; `map` applies to kept items. */
export function truncateList(
  items: readonly string[],
  max: number,
  map: (item: string) => string = (item) => item,
): string[] {
  const kept = items.slice(0, max).map(map);
  return items.length <= max ? kept : [...kept, `(+${items.length - max} more)`];
}

const contextItem = (item: string): string => cleanClip(item, ALERT_LIMITS.contextListItem);

function jsonList(items: readonly string[], max: number): string {
  return JSON.stringify(truncateList(items, max, contextItem));
}

function jsonObject(lists: Record<string, readonly string[]>, max: number): string {
  return JSON.stringify(
    Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, truncateList(v, max, contextItem)])),
  );
}

function textList(items: readonly string[]): string {
  if (items.length === 0) return "none";
  return truncateList(items, ALERT_LIMITS.listItemsInText, (i) => code(i, 100)).join(", ");
}

/** Control and invisible characters out, lone surrogates replaced (core/text.ts `sanitize`). */
function clean(value: string): string {
  return sanitize(value);
}

/**
 * A CSR-controlled value for inside a code span of Chatbot markdown: one line, bounded, no
 * backtick, nothing a chat renderer turns into a mention or link (core/text.ts `chatLiteral`).
 */
function inline(value: string, max: number = ALERT_LIMITS.inlineValue): string {
  return chatLiteral(value, max);
}

/**
 * A CSR- or cluster-controlled value as a code span of Chatbot markdown: the only way such
 * text enters title, description, next steps and summary (core/text.ts `chatCode`).
 */
function code(value: string, max: number = ALERT_LIMITS.inlineValue): string {
  return chatCode(value, max);
}

/** Cuts assembled markdown by code point, never leaving a code span open (`cutMarkup`). */
function clip(value: string, max: number): string {
  return cutMarkup(value, max);
}

/** clean() after a first cut, so a megabyte-long value costs no more than a short one. */
function cleanClip(value: string, max: number): string {
  return cut(clean(cut(value, max + 1)), max);
}

function attributesFor(ctx: AlertContext): Alert["attributes"] {
  const reason =
    ctx.decision?.reasons[0]?.code ??
    (ctx.kind === "flood-guard"
      ? "FLOOD_GUARD"
      : ctx.kind === "node-flood"
        ? "NODE_FLOOD"
        : ctx.kind === "summary"
          ? "SUMMARY"
          : "NONE");
  // An audit finding is not a decision of ours: filters on `decision: deny` must not count it.
  const decision = ctx.kind === "approved-elsewhere" ? ctx.kind : (ctx.decision?.decision ?? ctx.kind);
  const attribute = (value: string) => ({
    DataType: "String" as const,
    // SNS rejects empty attribute values.
    StringValue: cleanClip(value, ALERT_LIMITS.attribute) || "-",
  });
  return {
    cluster: attribute(ctx.cluster.name),
    decision: attribute(decision),
    reason: attribute(reason),
    alertKind: attribute(ctx.kind),
  };
}

function subjectFor(ctx: AlertContext): string {
  const base = `csr-approver ${ctx.kind}: ${ctx.decision?.name ?? ctx.cluster.name} (${ctx.cluster.name})`;
  // SNS Subject: ASCII, no line breaks, ≤ 100 characters, starting with a letter, digit or punctuation.
  const ascii = base.replace(/[^\x20-\x7e]/g, "?");
  return ascii.length <= 100 ? ascii : `${ascii.slice(0, 99)}~`;
}
