// `csr-approver sweep` without a cluster: the report formats on a hand-built SweepReport,
// the exit-code rule, and every argument/config error (exit 2, one line) reached in-process
// before anything touches AWS or Kubernetes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../functions/cli/main.js";
import { formatSweepJson, formatSweepTable, sweepExitCode, totalsLine } from "../../functions/cli/report.js";
import type { ClusterOutcome, CsrAction, CsrOutcome, SweepReport } from "../../functions/sweep/report.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function totalsOf(clusters: ClusterOutcome[]): Record<CsrAction, number> {
  const totals: Record<CsrAction, number> = {
    approved: 0,
    denied: 0,
    "would-approve": 0,
    "would-deny": 0,
    "left-pending": 0,
    "flood-guarded": 0,
    held: 0,
    deferred: 0,
    waiting: 0,
    skipped: 0,
    alerted: 0,
    "approved-elsewhere": 0,
    audited: 0,
    error: 0,
  };
  for (const cluster of clusters) for (const csr of cluster.csrs) totals[csr.action] += 1;
  return totals;
}

function report(clusters: ClusterOutcome[]): SweepReport {
  return { startedAt: "2026-01-01T00:10:00.000Z", durationMs: 412, clusters, totals: totalsOf(clusters) };
}

const approved: CsrOutcome = {
  cluster: "lab",
  name: "csr-4kq7v",
  node: "ip-10-0-1-70.ec2.internal",
  requester: "system:node:ip-10-0-1-70.ec2.internal",
  instanceId: "i-0a1b2c3d4e5f60001",
  decision: "approve",
  action: "approved",
  reasons: [{ code: "ALL_CHECKS_PASSED", message: "every check passed" }],
};
const denied: CsrOutcome = {
  cluster: "lab",
  name: "csr-9xw2m",
  node: "ip-10-0-1-70.ec2.internal",
  instanceId: "i-0a1b2c3d4e5f60001",
  decision: "deny",
  action: "denied",
  alert: "denied",
  reasons: [
    { code: "IP_NOT_OWNED", message: "IP SAN 10.0.1.99 is not an address of i-0a1b2c3d4e5f60001" },
    { code: "DNS_NOT_OWNED", message: "DNS SAN evil.example is not a name of i-0a1b2c3d4e5f60001" },
  ],
};
// A failed check without an alert topic: the engine downgrades the deny to wait.
const heldBack: CsrOutcome = {
  cluster: "lab",
  name: "csr-b8r5n",
  node: "ip-10-0-1-90.ec2.internal",
  decision: "wait",
  action: "waiting",
  reasons: [{ code: "IP_NOT_OWNED", message: "IP SAN 10.0.1.70 is not an address of i-0b" }],
  error: "no alert topic configured",
};
const alreadyDecided: CsrOutcome = {
  cluster: "lab",
  name: "csr-q6t3y",
  decision: "skip",
  action: "skipped",
  reasons: [{ code: "ALREADY_DECIDED", message: "already Approved" }],
};

const COUNTS = {
  listed: 0,
  pending: 0,
  notExamined: 0,
  nodeFloods: [],
  alertsSent: 0,
  audited: 0,
  auditDeferred: 0,
};
const lab: ClusterOutcome = {
  cluster: "lab",
  region: "eu-west-1",
  source: "self-managed",
  status: "ok",
  mode: "enforce",
  csrs: [approved, denied, heldBack, alreadyDecided],
  floodGuardTripped: false,
  durationMs: 230,
  ...COUNTS,
};
const brokenEks: ClusterOutcome = {
  cluster: "prod",
  region: "eu-west-1",
  source: "eks",
  status: "failed",
  error: "DescribeCluster: AccessDeniedException: not authorized",
  mode: "enforce",
  csrs: [],
  floodGuardTripped: false,
  durationMs: 0,
  ...COUNTS,
};

describe("sweep table", () => {
  it("prints one row per CSR acted on, reason sentences, the cluster block and totals", () => {
    expect(formatSweepTable(report([lab, brokenEks]))).toBe(
      [
        "CLUSTER  CSR        NODE                       INSTANCE             DECISION  ACTION    REASONS",
        "lab      csr-4kq7v  ip-10-0-1-70.ec2.internal  i-0a1b2c3d4e5f60001  approve   approved  ALL_CHECKS_PASSED",
        "lab      csr-9xw2m  ip-10-0-1-70.ec2.internal  i-0a1b2c3d4e5f60001  deny      denied    IP_NOT_OWNED,DNS_NOT_OWNED",
        "lab      csr-b8r5n  ip-10-0-1-90.ec2.internal  -                    wait      waiting   IP_NOT_OWNED",
        "",
        "lab/csr-9xw2m: IP_NOT_OWNED: IP SAN 10.0.1.99 is not an address of i-0a1b2c3d4e5f60001",
        "lab/csr-9xw2m: DNS_NOT_OWNED: DNS SAN evil.example is not a name of i-0a1b2c3d4e5f60001",
        "lab/csr-b8r5n: IP_NOT_OWNED: IP SAN 10.0.1.70 is not an address of i-0b",
        "lab/csr-b8r5n: error: no alert topic configured",
        "",
        "CLUSTER  SOURCE        REGION     MODE     STATUS  CSRS  TIME",
        "lab      self-managed  eu-west-1  enforce  ok      4     230ms",
        "prod     eks           eu-west-1  enforce  failed  0     0ms",
        "",
        "prod: failed: DescribeCluster: AccessDeniedException: not authorized",
        "",
        "Totals: 1 approved, 1 denied, 1 waiting, 1 skipped; 2 clusters, 1 failed; 412ms",
        "",
      ].join("\n"),
    );
  });

  it("says so when there is nothing pending and when the run was --dry-run", () => {
    const quiet: ClusterOutcome = { ...lab, mode: "dry-run", csrs: [alreadyDecided] };
    const text = formatSweepTable(report([quiet]), { readOnly: true });
    expect(text.split("\n")[0]).toBe("No pending kubelet-serving CSRs.");
    expect(text).not.toContain("csr-q6t3y");
    expect(text.trimEnd().split("\n").at(-1)).toBe(
      "Totals: 1 skipped; 1 cluster, 0 failed; 412ms; --dry-run: nothing was written",
    );
    expect(formatSweepTable(report([]))).toBe(
      "No pending kubelet-serving CSRs.\n\nNo clusters to sweep.\n\nTotals: no CSRs; 0 clusters, 0 failed; 412ms\n",
    );
  });

  it("labels a region whose discovery failed and marks a tripped flood guard", () => {
    const discovery: ClusterOutcome = {
      ...brokenEks,
      cluster: "*",
      region: "us-east-2",
      error: "ListClusters: throttled",
    };
    const flooded: ClusterOutcome = { ...lab, csrs: [], floodGuardTripped: true };
    const text = formatSweepTable(report([flooded, discovery]));
    expect(text).toContain(
      "\nlab           self-managed  eu-west-1  enforce  ok (flood guard)  0     230ms\n",
    );
    expect(text).toContain("\n*(us-east-2): failed: ListClusters: throttled\n");
  });

  it("never lets control characters from a cluster reach the terminal", () => {
    const hostile: CsrOutcome = {
      ...denied,
      name: "csr-\u001b[2Jx",
      node: "evil\rnode",
      reasons: [{ code: "IP_NOT_OWNED", message: "bell\u0007 and\nnewline" }],
    };
    const text = formatSweepTable(report([{ ...lab, csrs: [hostile] }]));
    // Newlines are the table's own; any other control character came from the report.
    expect([...text].filter((char) => char !== "\n" && /\p{Cc}/u.test(char))).toEqual([]);
    expect(text).toContain("csr-?[2Jx");
    expect(text).toContain("evil?node");
    expect(text).toContain("bell? and?newline");
  });

  it("never lets a bidirectional override or invisible character reorder or hide a name", () => {
    const hostile: CsrOutcome = { ...denied, name: "csr-\u202egnp.exe", node: "ip-10-0-1-70\u200b\u2066x" };
    const text = formatSweepTable(report([{ ...lab, csrs: [hostile] }]));
    expect(text).toContain("csr-?gnp.exe");
    expect(text).toContain("ip-10-0-1-70??x");
    expect(text).not.toMatch(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/u);
  });

  it("an approval made elsewhere that fails is a row naming its approver; one that passes is only counted", () => {
    const elsewhere: CsrOutcome = {
      cluster: "lab",
      name: "csr-x1",
      node: "ip-10-0-1-70.ec2.internal",
      decision: "deny",
      action: "approved-elsewhere",
      audit: "violation",
      approvedBy: "RubberStamp: approved \u001b[31mall",
      alert: "approved-elsewhere",
      delivery: "alert",
      reasons: [{ code: "IP_NOT_OWNED", message: "IP SAN 10.0.1.99 is not an address of i-0a" }],
    };
    const passed: CsrOutcome = {
      ...elsewhere,
      name: "csr-x2",
      decision: "approve",
      action: "audited",
      audit: "pass",
      reasons: [],
    };
    const table = formatSweepTable(report([{ ...lab, csrs: [elsewhere, passed] }]), { readOnly: true });
    expect(table).toContain(
      "lab      csr-x1  ip-10-0-1-70.ec2.internal  -         deny      approved-elsewhere  IP_NOT_OWNED",
    );
    expect(table).toContain("lab/csr-x1: approved elsewhere by RubberStamp: approved ?[31mall");
    expect(table).not.toContain("csr-x2");
    expect(table).toMatch(/Totals: 1 approved-elsewhere, 1 audited; 1 cluster, 0 failed/);
  });

  it("names each node whose flood guard tripped under the cluster table", () => {
    const text = formatSweepTable(
      report([{ ...lab, nodeFloods: [{ node: "ip-10-0-1-80.ec2.internal", pending: 150, examined: 20 }] }]),
    );
    expect(text).toContain(
      "lab: node ip-10-0-1-80.ec2.internal has 150 pending CSRs: only its newest 20 examined (node flood guard)",
    );
  });
});

describe("docs/cli.md", () => {
  it("shows the table the formatter prints for its example sweep", () => {
    const skipped = (name: string): CsrOutcome => ({ ...alreadyDecided, name });
    const example = report([
      {
        ...lab,
        mode: "dry-run",
        durationMs: 184,
        csrs: [
          {
            ...approved,
            node: "ip-10-0-1-70.eu-west-1.compute.internal",
            action: "would-approve",
          },
          {
            ...denied,
            node: "ip-10-0-1-80.eu-west-1.compute.internal",
            instanceId: "i-0a1b2c3d4e5f60002",
            action: "would-deny",
            reasons: [
              {
                code: "IP_NOT_OWNED",
                message:
                  "IP SAN 10.0.1.70 is not an address of i-0a1b2c3d4e5f60002 (owns 10.0.1.80, ip-10-0-1-80.eu-west-1.compute.internal)",
              },
            ],
          },
          skipped("s1"),
          skipped("s2"),
          skipped("s3"),
        ],
      },
      {
        ...brokenEks,
        mode: "dry-run",
        error:
          "DescribeCluster: AccessDeniedException: User is not authorized to perform eks:DescribeCluster",
      },
    ]);
    const doc = readFileSync(join(ROOT, "docs/cli.md"), "utf8");
    const documented = /## Sweep from a workstation[\s\S]*?```text\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(documented).toBe(formatSweepTable({ ...example, durationMs: 1210 }, { readOnly: true }));
  });
});

describe("sweep JSON", () => {
  it("is the SweepReport as one JSON document", () => {
    const input = report([lab, brokenEks]);
    const text = formatSweepJson(input);
    expect(JSON.parse(text)).toEqual(input);
    expect(text.endsWith("}\n")).toBe(true);
  });
});

describe("sweep exit code", () => {
  it("is 0 whatever was decided, 1 when a cluster failed or a decision could not be written", () => {
    expect(sweepExitCode(report([lab]))).toBe(0);
    expect(sweepExitCode(report([]))).toBe(0);
    expect(sweepExitCode(report([{ ...lab, status: "deferred", csrs: [] }]))).toBe(0);
    expect(sweepExitCode(report([lab, brokenEks]))).toBe(1);
    const refused: CsrOutcome = { ...approved, action: "error", error: "HTTP 403: forbidden" };
    expect(sweepExitCode(report([{ ...lab, csrs: [refused] }]))).toBe(1);
  });

  it("totals only count what happened", () => {
    expect(totalsLine(report([lab]))).toBe(
      "Totals: 1 approved, 1 denied, 1 waiting, 1 skipped; 1 cluster, 0 failed; 412ms",
    );
  });
});

describe("sweep usage and config errors", () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cli-sweep-"));
    // The first `sweep` loads the AWS SDK and the Kubernetes client: not part of any case's time.
    await import("../../functions/cli/sweep.js");
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const selfManaged = {
    eks: { discovery: false },
    selfManaged: [
      {
        name: "lab",
        region: "eu-west-1",
        endpoint: "https://10.0.0.10:6443",
        caData: Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString(
          "base64",
        ),
        credential: { ssmParameter: "/csr-approver/lab/token" },
        vpcIds: ["vpc-0a1b2c3d4e5f67890"],
      },
    ],
  };

  async function run(argv: string[], env: Record<string, string> = {}) {
    let stdout = "";
    let stderr = "";
    const code = await main(["sweep", ...argv], {
      stdout: (text) => void (stdout += text),
      stderr: (text) => void (stderr += text),
      readStdin: async () => "",
      // No credentials, no endpoint: any attempt to reach AWS would fail, not succeed.
      env: { AWS_EC2_METADATA_DISABLED: "true", ...env },
    });
    return { code, stdout, stderr };
  }

  const config = (name: string, doc: unknown): string => {
    const path = join(dir, name);
    writeFileSync(path, typeof doc === "string" ? doc : JSON.stringify(doc));
    return path;
  };

  const cases: [string, () => string[], RegExp, Record<string, string>?][] = [
    ["an unknown option", () => ["--approve-everything"], /unknown option '--approve-everything'/],
    ["a stray argument", () => ["lab"], /unexpected argument 'lab'/],
    ["a bad --output", () => ["--output", "yaml"], /--output 'yaml': expected table or json/],
    ["a bad --region", () => ["--region", "moon-1"], /--region 'moon-1' is not a region name/],
    ["a bad AWS_REGION", () => [], /AWS_REGION 'Europe' is not a region name/, { AWS_REGION: "Europe" }],
    ["a bad --topic-arn", () => ["--topic-arn", "alerts"], /--topic-arn 'alerts' is not an SNS topic ARN/],
    [
      "a bad ALERT_TOPIC_ARN",
      () => [],
      /ALERT_TOPIC_ARN 'arn:aws:sqs:eu-west-1:123456789012:q' is not an SNS topic ARN/,
      { ALERT_TOPIC_ARN: "arn:aws:sqs:eu-west-1:123456789012:q" },
    ],
    [
      "a missing config file",
      () => ["--config", join(dir, "nope.yaml")],
      /config: cannot read .*nope\.yaml \(ENOENT\)/,
    ],
    [
      "a config file that is not YAML",
      () => ["--config", config("broken.yaml", "a: [1,\n")],
      /is not valid YAML or JSON/,
    ],
    [
      "an unknown config key",
      () => ["--config", config("typo.json", { ...selfManaged, defaults: { mod: "dry-run" } })],
      /config: defaults\.mod: /,
    ],
    ["EKS discovery without any region", () => ["--dry-run"], /no region for EKS discovery: give --region/],
    [
      "--config-parameter without a region",
      () => ["--config-parameter", "/csr-approver/config"],
      /--config-parameter needs a region/,
    ],
    [
      "a --cluster that is not configured",
      () => [
        "--dry-run",
        "--config",
        config("lab.json", selfManaged),
        "--cluster",
        "lab",
        "--cluster",
        "labb",
      ],
      /--cluster labb: no such cluster \(found: lab\)/,
    ],
  ];

  it.each(cases)("exits 2 with one line on stderr for %s", async (_what, argv, message, env) => {
    const result = await run(argv(), env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(message);
    expect(result.stderr.startsWith("csr-approver sweep: ")).toBe(true);
    expect(result.stderr.endsWith("\n")).toBe(true);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("prints its help, which says that it writes to clusters without --dry-run", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("WITHOUT --dry-run THIS WRITES TO YOUR CLUSTERS");
    expect(result.stdout).toContain("--topic-arn ARN");
  });
});
