// `csr-approver evaluate` end to end: the real bin, spawned with this Node, on inputs generated
// now with real CSRs. Every spawn runs under a guard that kills the process on any network
// attempt, so "never contacts the network" is checked, not assumed.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../functions/cli/main.js";
import { kubeletCsrObject } from "../support/csr-factory.js";
import {
  CLUSTER_VPC,
  CREATED,
  EXPECTED,
  INSTANCE_IDS,
  NODES,
  NOW_AFTER_GRACE,
  NOW_WITHIN_GRACE,
  csrList,
  describeInstances,
  nodeList,
} from "../fixtures/scenario.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(ROOT, "bin/csr-approver.mjs");
const DIST = join(ROOT, "dist/cli.mjs");

let dir: string;
let guard: string;
const file = (name: string): string => join(dir, name);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], stdin?: string, cwd?: string): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", guard, BIN, ...args], {
      cwd: cwd ?? dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, AWS_EC2_METADATA_DISABLED: "true" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}

const FILE_FLAGS = new Set(["--csr", "--instances", "--node", "--config"]);

/**
 * The same CLI in this process through `main(argv, io)`: used for the long tables of error
 * paths, where spawning a Node per case would only add seconds. File arguments resolve in
 * the temp dir and the temp dir is cut out of messages, so expectations read as for `run`.
 */
async function runMain(args: string[], stdin?: string): Promise<Run> {
  const argv = args.map((arg, index) =>
    FILE_FLAGS.has(args[index - 1] ?? "") && arg !== "-" && !arg.startsWith("/") ? join(dir, arg) : arg,
  );
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: async () => stdin ?? "",
    env: {},
  });
  const local = (text: string): string => text.replaceAll(`${dir}/`, "");
  return { code, stdout: local(stdout), stderr: local(stderr) };
}

interface Line {
  name: string;
  decision: string;
  reasons: { code: string; message: string }[];
  node: string | null;
  instanceId: string | null;
  requester: string | null;
  requestedSans: { dnsNames: string[]; ips: string[]; other: string[] } | null;
  owned: { ips: string[]; dnsNames: string[] } | null;
  audit?: Record<string, unknown> | null;
}

function lines(result: Run): Line[] {
  expect(result.stdout.endsWith("\n")).toBe(true);
  return result.stdout
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line) as Line);
}

function byName(result: Run): Record<string, Line> {
  return Object.fromEntries(lines(result).map((line) => [line.name, line]));
}

function codes(line: Line | undefined): string[] {
  return (line?.reasons ?? []).map((reason) => reason.code);
}

/** An exit-2 run: nothing on stdout, exactly one line on stderr. */
function expectUsageError(result: Run, message: string | RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe("");
  expect(result.stderr.endsWith("\n")).toBe(true);
  expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  if (typeof message === "string") expect(result.stderr.trimEnd()).toBe(message);
  else expect(result.stderr.trimEnd()).toMatch(message);
}

const BASE = [
  "evaluate",
  "--csr",
  "csrs.json",
  "--instances",
  "instances.json",
  "--cluster-vpc",
  CLUSTER_VPC,
];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((entry) => newestMtime(join(path, entry))));
}

beforeAll(() => {
  // `npm test` builds the CLI first; rebuild only when run alone after a source change.
  let built = 0;
  try {
    built = statSync(DIST).mtimeMs;
  } catch {
    built = 0;
  }
  if (built < Math.max(newestMtime(join(ROOT, "functions/cli")), newestMtime(join(ROOT, "functions/core")))) {
    execFileSync(process.execPath, [join(ROOT, "scripts/build-cli.mjs")], { cwd: ROOT });
  }

  dir = mkdtempSync(join(tmpdir(), "csr-approver-evaluate-"));
  guard = file("no-network.mjs");
  writeFileSync(
    guard,
    `import net from "node:net";
import dns from "node:dns";
const deny = (what) => { process.stderr.write("NETWORK ATTEMPT: " + what + "\\n"); process.exit(97); };
net.Socket.prototype.connect = function () { deny("socket connect"); };
dns.lookup = () => deny("dns.lookup");
dns.resolve = () => deny("dns.resolve");
dns.promises.lookup = async () => deny("dns.promises.lookup");
`,
  );
  const csrs = csrList();
  const instances = describeInstances();
  writeFileSync(file("csrs.json"), JSON.stringify(csrs, null, 2));
  writeFileSync(file("instances.json"), JSON.stringify(instances, null, 2));
  writeFileSync(file("nodes.json"), JSON.stringify(nodeList(), null, 2));
  writeFileSync(file("csrs.yaml"), toYaml(csrs));
  writeFileSync(file("instances.yaml"), toYaml(instances));
  // Several YAML documents, as `kubectl get csr a -o yaml; echo ---; kubectl get csr b -o yaml` gives.
  writeFileSync(
    file("two-csrs.yaml"),
    csrs.items
      .slice(0, 2)
      .map((csr) => toYaml(csr))
      .join("---\n"),
  );
  writeFileSync(
    file("bare-instances.json"),
    JSON.stringify(instances.Reservations.flatMap((reservation) => reservation.Instances as unknown[])),
  );
  mkdirSync(file("a-directory"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the network guard", () => {
  it("kills a process that tries to connect (so a passing run really stayed offline)", async () => {
    const result = await new Promise<Run>((resolvePromise) => {
      const child = spawn(process.execPath, ["--import", guard, "-e", "fetch('http://127.0.0.1:8080/')"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("close", (code) => resolvePromise({ code, stdout: "", stderr }));
    });
    expect(result.code).toBe(97);
    expect(result.stderr).toContain("NETWORK ATTEMPT");
  });
});

describe("evaluate: decisions", () => {
  it("prints one JSON object per CSR with the decision, reasons, node and instance", async () => {
    const result = await run([...BASE, "--node", "nodes.json", "--now", NOW_WITHIN_GRACE]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const output = lines(result);
    expect(output.map((line) => line.name)).toEqual(Object.keys(EXPECTED));
    for (const line of output) {
      const expected = EXPECTED[line.name as keyof typeof EXPECTED];
      expect({ name: line.name, decision: line.decision, codes: codes(line) }).toEqual({
        name: line.name,
        decision: expected.decision,
        codes: expected.codes,
      });
      expect(Object.keys(line)).toEqual([
        "name",
        "decision",
        "reasons",
        "node",
        "instanceId",
        "requester",
        "requestedSans",
        "owned",
        "audit",
      ]);
      for (const reason of line.reasons) expect(reason.message.length).toBeGreaterThan(0);
    }
    const approved = byName(result)["csr-4kq7v"];
    expect(approved).toMatchObject({
      node: NODES.web,
      instanceId: INSTANCE_IDS.web,
      requester: `system:node:${NODES.web}`,
    });
    // Secondary ENI, secondary IP, public IP and IPv6 count; the delegated prefix does not.
    expect(approved?.owned?.ips).toEqual(
      expect.arrayContaining([
        "10.0.1.70",
        "10.0.1.71",
        "10.0.2.80",
        "54.216.10.70",
        "2a05:d018:abc:1200::70",
      ]),
    );
    expect(approved?.owned?.ips).not.toContain("10.0.3.0");
    expect(approved?.requestedSans?.ips).toContain("2a05:d018:abc:1200::70");
    // The terminated twin with the same name is ignored.
    expect(JSON.stringify(byName(result))).not.toContain(INSTANCE_IDS.webTerminatedTwin);
    expect(byName(result)["csr-h7c4l"]).toMatchObject({ node: null, instanceId: null });
  });

  it("--now past the grace period turns the waits into denials", async () => {
    const result = await run([...BASE, "--now", NOW_AFTER_GRACE]);
    expect(result.code).toBe(0);
    const out = byName(result);
    expect(out["csr-b8r5n"]?.decision).toBe("deny");
    expect(codes(out["csr-b8r5n"])).toEqual(["INSTANCE_NOT_FOUND"]);
    expect(out["csr-d3p6t"]?.decision).toBe("deny");
    expect(codes(out["csr-d3p6t"])).toEqual(["INSTANCE_NOT_RUNNING"]);
    expect(out["csr-4kq7v"]?.decision).toBe("approve");
  });

  it("--now accepts an RFC 3339 offset and it means the same instant", async () => {
    // 00:20Z written as 01:20+01:00: past the grace period.
    const result = await runMain([...BASE, "--now", "2026-01-01T01:20:00+01:00"]);
    expect(byName(result)["csr-b8r5n"]?.decision).toBe("deny");
  });

  it("reads YAML inputs, including several documents in one file", async () => {
    const json = await run([...BASE, "--now", NOW_WITHIN_GRACE]);
    const yaml = await run([
      "evaluate",
      "--csr",
      "csrs.yaml",
      "--instances",
      "instances.yaml",
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_WITHIN_GRACE,
    ]);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toBe(json.stdout);
    const multi = await run([
      "evaluate",
      "--csr",
      "two-csrs.yaml",
      "--instances",
      "instances.yaml",
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_WITHIN_GRACE,
    ]);
    expect(lines(multi).map((line) => [line.name, line.decision])).toEqual([
      ["csr-4kq7v", "approve"],
      ["csr-9xw2m", "deny"],
    ]);
  });

  it("reads --csr - from stdin, and a single CSR object as well as a list", async () => {
    const single = csrList().items[0];
    const result = await run(
      [
        "evaluate",
        "--csr",
        "-",
        "--instances",
        "instances.json",
        "--cluster-vpc",
        CLUSTER_VPC,
        "--now",
        NOW_WITHIN_GRACE,
      ],
      JSON.stringify(single),
    );
    expect(result.code).toBe(0);
    expect(lines(result).map((line) => [line.name, line.decision])).toEqual([["csr-4kq7v", "approve"]]);
  });

  it("reads --instances - from stdin and accepts a bare instance list (--query 'Reservations[].Instances[]')", async () => {
    const fromStdin = await run(
      [
        "evaluate",
        "--csr",
        "csrs.json",
        "--instances",
        "-",
        "--cluster-vpc",
        CLUSTER_VPC,
        "--now",
        NOW_WITHIN_GRACE,
      ],
      readFileSync(file("instances.json"), "utf8"),
    );
    const bare = await run([
      "evaluate",
      "--csr",
      "csrs.json",
      "--instances",
      "bare-instances.json",
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_WITHIN_GRACE,
    ]);
    const reference = await run([...BASE, "--now", NOW_WITHIN_GRACE]);
    expect(fromStdin.stdout).toBe(reference.stdout);
    expect(bare.stdout).toBe(reference.stdout);
  });

  it("an empty CSR list prints nothing and exits 0", async () => {
    writeFileSync(file("empty-list.json"), JSON.stringify({ apiVersion: "v1", kind: "List", items: [] }));
    const result = await run(["evaluate", "--csr", "empty-list.json", "--instances", "instances.json"]);
    expect(result).toMatchObject({ code: 0, stdout: "" });
  });

  it("--output table prints aligned NAME NODE INSTANCE DECISION REASONS columns, then the reasons", async () => {
    const result = await run([...BASE, "--now", NOW_WITHIN_GRACE, "--output", "table"]);
    expect(result.code).toBe(0);
    const [header = "", ...rest] = result.stdout.split("\n");
    expect(header.split(/\s+/)).toEqual(["NAME", "NODE", "INSTANCE", "DECISION", "REASONS"]);
    const rows = rest.slice(0, Object.keys(EXPECTED).length);
    const columns = ["NODE", "INSTANCE", "DECISION", "REASONS"].map((title) => header.indexOf(title));
    for (const row of rows) {
      // Every column starts where its header does.
      for (const start of columns) expect(row[start - 1]).toBe(" ");
      for (const start of columns) expect(row[start]).not.toBe(" ");
    }
    const row = (name: string): string[] =>
      (rows.find((line) => line.startsWith(`${name} `)) ?? "").split(/\s+/);
    expect(row("csr-4kq7v")).toEqual([
      "csr-4kq7v",
      NODES.web,
      INSTANCE_IDS.web,
      "approve",
      "ALL_CHECKS_PASSED",
    ]);
    expect(row("csr-9xw2m")).toEqual([
      "csr-9xw2m",
      NODES.web,
      INSTANCE_IDS.web,
      "deny",
      "IP_NOT_OWNED,DNS_NOT_OWNED",
    ]);
    expect(row("csr-b8r5n")).toEqual(["csr-b8r5n", NODES.gone, "-", "wait", "INSTANCE_NOT_VISIBLE"]);
    expect(result.stdout).toMatch(/^csr-9xw2m: IP_NOT_OWNED: IP SAN 10\.0\.1\.99 /m);
  });

  it("--output table sanitises a CSR name as the sweep table does: no bidi override or invisible character", async () => {
    // security-review finding 5: the two tables share functions/cli/format.ts `cell`.
    const hostile = kubeletCsrObject({ name: "csr-\u202egnp.exe\u200b\u2066x\u001b[2J", node: NODES.web });
    writeFileSync(file("hostile-name.json"), JSON.stringify(hostile));
    const result = await runMain([
      "evaluate",
      "--csr",
      "hostile-name.json",
      "--instances",
      "instances.json",
      "--output",
      "table",
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("csr-?gnp.exe??x?[2J");
    expect(result.stdout).not.toMatch(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u);
    expect([...result.stdout].filter((char) => char !== "\n" && /\p{Cc}/u.test(char))).toEqual([]);
  });

  it("--node is used: a Node whose providerID names another instance is an identity conflict", async () => {
    const nodes = nodeList();
    const web = nodes.items[0] as { spec: { providerID: string } };
    web.spec.providerID = `aws:///eu-west-1b/${INSTANCE_IDS.foreign}`;
    writeFileSync(file("conflicting-nodes.json"), JSON.stringify(nodes));
    const result = await runMain([...BASE, "--node", "conflicting-nodes.json", "--now", NOW_WITHIN_GRACE]);
    const out = byName(result);
    expect(out["csr-4kq7v"]?.decision).toBe("deny");
    expect(codes(out["csr-4kq7v"])).toContain("IDENTITY_CONFLICT");
  });

  it("--eks lets the IAM session name identify the instance; without it the name must match", async () => {
    const csr = kubeletCsrObject({
      name: "csr-eks01",
      node: "worker-a",
      creationTimestamp: CREATED,
      dnsNames: [NODES.web],
      ips: ["10.0.1.70"],
      extra: { sessionName: [INSTANCE_IDS.web] },
    });
    writeFileSync(file("eks-csr.json"), JSON.stringify(csr));
    const args = [
      "evaluate",
      "--csr",
      "eks-csr.json",
      "--instances",
      "instances.json",
      "--cluster-vpc",
      CLUSTER_VPC,
    ];
    const eks = byName(await runMain([...args, "--eks", "--now", NOW_WITHIN_GRACE]))["csr-eks01"];
    expect(eks).toMatchObject({ decision: "approve", instanceId: INSTANCE_IDS.web });
    const selfManaged = byName(await runMain([...args, "--now", NOW_WITHIN_GRACE]))["csr-eks01"];
    expect(selfManaged?.decision).toBe("wait");
    expect(selfManaged?.instanceId).toBeNull();
  });

  it("decided CSRs: the audit's verdict on an approval made elsewhere, as the sweep would give it", async () => {
    const approvedBy = (name: string, ips: string[]) =>
      kubeletCsrObject({
        name,
        node: NODES.web,
        creationTimestamp: CREATED,
        dnsNames: [NODES.web],
        ips,
        conditions: [
          {
            type: "Approved",
            status: "True",
            reason: "AutoApproved",
            message: "approved by a prefix rule",
            lastUpdateTime: CREATED,
          },
        ],
      });
    writeFileSync(
      file("elsewhere-csrs.json"),
      JSON.stringify({
        kind: "List",
        items: [approvedBy("csr-else1", ["10.0.1.70", "10.0.1.99"]), approvedBy("csr-else2", ["10.0.1.70"])],
      }),
    );
    const args = ["evaluate", "--csr", "elsewhere-csrs.json", "--instances", "instances.json"];
    const out = byName(await runMain([...args, "--cluster-vpc", CLUSTER_VPC, "--now", NOW_WITHIN_GRACE]));
    const hostile = out["csr-else1"]!;
    expect(hostile.decision).toBe("skip");
    expect(hostile.audit).toMatchObject({
      subject: "approved-elsewhere",
      verdict: "violation",
      alert: "approved-elsewhere",
      approvedBy: { reason: "AutoApproved", message: "approved by a prefix rule" },
      certificateIssued: false,
    });
    expect((hostile.audit?.reasons as { code: string }[]).map((r) => r.code)).toEqual(["IP_NOT_OWNED"]);
    expect(out["csr-else2"]?.audit).toMatchObject({
      verdict: "pass",
      alert: null,
    });
    const table = await runMain([
      ...args,
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_WITHIN_GRACE,
      "--output",
      "table",
    ]);
    expect(table.stdout).toContain(
      "csr-else1: audit violation → approved-elsewhere alert (approved elsewhere: AutoApproved: approved by a prefix rule); certificate not issued",
    );
    // Outside the audit window (an hour by default) the audit looks at nothing.
    const late = byName(
      await runMain([...args, "--cluster-vpc", CLUSTER_VPC, "--now", "2026-01-01T03:00:00Z"]),
    );
    expect(late["csr-else1"]?.audit).toBeNull();
  });

  it("without --eks the IAM session name still vetoes a node name that names another instance", async () => {
    const csrFor = (name: string, sessionName: string) =>
      kubeletCsrObject({
        name,
        node: NODES.web,
        creationTimestamp: CREATED,
        dnsNames: [NODES.web],
        ips: ["10.0.1.70"],
        extra: { sessionName: [sessionName] },
      });
    writeFileSync(
      file("session-csrs.json"),
      JSON.stringify({
        kind: "List",
        items: [
          csrFor("csr-veto1", INSTANCE_IDS.booting),
          csrFor("csr-veto2", "i-0a1b2c3d4e5f6ffff"),
          csrFor("csr-agree", INSTANCE_IDS.web),
        ],
      }),
    );
    const args = ["evaluate", "--csr", "session-csrs.json", "--instances", "instances.json"];
    for (const kind of [[], ["--eks"]]) {
      const out = byName(
        await runMain([...args, "--cluster-vpc", CLUSTER_VPC, ...kind, "--now", NOW_WITHIN_GRACE]),
      );
      for (const vetoed of ["csr-veto1", "csr-veto2"]) {
        expect(out[vetoed]?.decision, `${vetoed} ${kind.join("")}`).toBe("deny");
        expect(codes(out[vetoed])).toEqual(["IDENTITY_CONFLICT"]);
      }
      expect(out["csr-agree"]).toMatchObject({ decision: "approve", instanceId: INSTANCE_IDS.web });
    }
  });

  it("--config and --cluster supply the settings, VPCs, region and cluster tag", async () => {
    writeFileSync(
      file("config.yaml"),
      toYaml({
        defaults: {
          pendingGraceSeconds: 120,
          clusterTag: { key: "kubernetes.io/cluster/{{cluster}}", values: ["owned", "shared"] },
        },
        eks: { clusters: { other: { pendingGraceSeconds: 3600 } } },
        selfManaged: [
          {
            name: "demo",
            region: "eu-west-1",
            endpoint: "https://10.0.0.10:6443",
            caData: Buffer.from("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").toString(
              "base64",
            ),
            credential: { ssmParameter: "/csr-approver/demo/token" },
            vpcIds: [CLUSTER_VPC],
          },
        ],
      }),
    );
    const args = [
      "evaluate",
      "--csr",
      "csrs.json",
      "--instances",
      "instances.json",
      "--config",
      "config.yaml",
    ];
    // demo: VPC from the config, the instances carry kubernetes.io/cluster/demo, grace 120 s.
    const demo = await runMain([...args, "--cluster", "demo", "--now", NOW_WITHIN_GRACE]);
    expect(demo.stderr).toBe("");
    expect(byName(demo)["csr-4kq7v"]?.decision).toBe("approve");
    expect(codes(byName(demo)["csr-b8r5n"])).toEqual(["INSTANCE_NOT_FOUND"]);
    // other (EKS): the instances lack kubernetes.io/cluster/other; grace 3600 s keeps the wait.
    const other = await runMain([
      ...args,
      "--cluster",
      "other",
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_AFTER_GRACE,
    ]);
    expect(codes(byName(other)["csr-4kq7v"])).toEqual(["FOREIGN_INSTANCE"]);
    expect(byName(other)["csr-b8r5n"]?.decision).toBe("wait");
  });

  it("without a cluster VPC it warns on stderr, approves nothing and still exits 0", async () => {
    const result = await runMain([
      "evaluate",
      "--csr",
      "csrs.json",
      "--instances",
      "instances.json",
      "--now",
      NOW_WITHIN_GRACE,
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^csr-approver evaluate: warning: no cluster VPC given/);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    // Cluster membership cannot be established, so nothing may be approved.
    expect(lines(result).filter((line) => line.decision === "approve")).toEqual([]);
  });

  it("the committed example set in test/fixtures gives the documented decisions", async () => {
    const fixtures = join(ROOT, "test/fixtures");
    const result = await run([
      "evaluate",
      "--csr",
      join(fixtures, "csrs.json"),
      "--instances",
      join(fixtures, "instances.json"),
      "--node",
      join(fixtures, "nodes.json"),
      "--cluster-vpc",
      CLUSTER_VPC,
      "--now",
      NOW_WITHIN_GRACE,
    ]);
    expect(result.code).toBe(0);
    expect(lines(result).map((line) => [line.name, line.decision, codes(line)])).toEqual(
      Object.entries(EXPECTED).map(([name, expected]) => [name, expected.decision, expected.codes]),
    );
  });
});

describe("docs/cli.md", () => {
  it("shows the real output of every evaluate command it documents", async () => {
    const doc = readFileSync(join(ROOT, "docs/cli.md"), "utf8");
    const examples = [
      ...doc.matchAll(
        /```sh\n(npx --no-install csr-approver evaluate [^\n]+)\n```\s*```text\n([\s\S]*?)```/g,
      ),
    ];
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const [, command = "", documented = ""] of examples) {
      const [invocation = "", filter] = command.split(" | grep ");
      const args = invocation.split(/\s+/).slice(3); // drop `npx --no-install csr-approver`
      const result = await run(args, undefined, ROOT);
      expect(result.code, command).toBe(0);
      const output = filter
        ? result.stdout
            .split("\n")
            .filter((line) => line.includes(filter.trim()))
            .map((line) => `${line}\n`)
            .join("")
        : result.stdout;
      expect(output, command).toBe(documented);
    }
  });
});

describe("evaluate: exit 2 with one line on stderr", () => {
  const instancesShape =
    'expected {"Reservations":[{"Instances":[…]}]} as `aws ec2 describe-instances` prints';

  it.each([
    [
      "a missing --csr file",
      ["evaluate", "--csr", "nope.json", "--instances", "instances.json"],
      "csr-approver: --csr nope.json: no such file",
    ],
    [
      "a missing --instances file",
      ["evaluate", "--csr", "csrs.json", "--instances", "gone.json"],
      "csr-approver: --instances gone.json: no such file",
    ],
    [
      "a directory",
      ["evaluate", "--csr", "csrs.json", "--instances", "a-directory"],
      "csr-approver: --instances a-directory: is a directory, not a file",
    ],
    [
      "a missing --node file",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--node", "nodes.yaml"],
      "csr-approver: --node nodes.yaml: no such file",
    ],
    [
      "unknown flag",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--vpc", CLUSTER_VPC],
      "csr-approver evaluate: unknown option '--vpc' (see csr-approver evaluate --help)",
    ],
    [
      "missing --csr",
      ["evaluate", "--instances", "instances.json"],
      "csr-approver evaluate: missing --csr FILE|- (see csr-approver evaluate --help)",
    ],
    [
      "missing --instances",
      ["evaluate", "--csr", "csrs.json"],
      "csr-approver evaluate: missing --instances FILE|- (see csr-approver evaluate --help)",
    ],
    [
      "a flag without its value",
      ["evaluate", "--instances", "instances.json", "--csr"],
      "csr-approver evaluate: option '--csr' needs a value (see csr-approver evaluate --help)",
    ],
    [
      "a stray argument",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "extra.json"],
      "csr-approver evaluate: unexpected argument 'extra.json' (see csr-approver evaluate --help)",
    ],
    [
      "a bad --now",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--now", "yesterday"],
      "csr-approver evaluate: --now 'yesterday': expected an RFC 3339 time like 2026-01-01T00:10:00Z (see csr-approver evaluate --help)",
    ],
    [
      "a --now without a zone",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--now", "2026-01-01T00:10:00"],
      /^csr-approver evaluate: --now '2026-01-01T00:10:00': expected an RFC 3339 time/,
    ],
    [
      "a bad --output",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--output", "yaml"],
      "csr-approver evaluate: --output 'yaml': expected json or table (see csr-approver evaluate --help)",
    ],
    [
      "a bad --cluster-vpc",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--cluster-vpc", "vpc-123"],
      "csr-approver evaluate: --cluster-vpc 'vpc-123': expected a VPC ID like vpc-0abc1234def567890 (see csr-approver evaluate --help)",
    ],
    [
      "a bad --region",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--region", "Ireland"],
      "csr-approver evaluate: --region 'Ireland': expected a region name like eu-west-1 (see csr-approver evaluate --help)",
    ],
    [
      "two inputs on stdin",
      ["evaluate", "--csr", "-", "--instances", "-"],
      "csr-approver evaluate: only one input can be read from stdin (--csr -, --instances -) (see csr-approver evaluate --help)",
    ],
    [
      "a missing --config file",
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--config", "none.yaml"],
      "csr-approver: --config none.yaml: no such file",
    ],
    ["an unknown command", ["evalute"], "csr-approver: unknown command 'evalute' (see csr-approver --help)"],
    [
      "an unknown top-level flag",
      ["--verbose"],
      "csr-approver: unknown option '--verbose' (see csr-approver --help)",
    ],
    ["no command", [], "csr-approver: missing command (see csr-approver --help)"],
    [
      "an unknown sweep flag",
      ["sweep", "--bogus"],
      "csr-approver sweep: unknown option '--bogus' (see csr-approver sweep --help)",
    ],
    [
      "an unknown setup-cluster flag",
      ["setup-cluster", "--bogus"],
      "csr-approver setup-cluster: unknown option '--bogus' (see csr-approver setup-cluster --help)",
    ],
  ])("%s", async (_what, args, message) => {
    expectUsageError(await runMain(args), message);
  });

  it.each([
    [
      ["evaluate", "--csr", "nope.json", "--instances", "instances.json"],
      "csr-approver: --csr nope.json: no such file",
    ],
    [
      ["evaluate", "--csr", "csrs.json", "--instances", "nodes.json"],
      `csr-approver: --instances nodes.json: ${instancesShape}`,
    ],
    [
      ["evaluate", "--csr", "csrs.json", "--instances", "instances.json", "--vpc", CLUSTER_VPC],
      "csr-approver evaluate: unknown option '--vpc' (see csr-approver evaluate --help)",
    ],
    [["sweep", "--output", "xml"], "csr-approver sweep: --output 'xml': expected table or json"],
  ])("the real bin: %j exits 2", async (args, message) => {
    expectUsageError(await run(args), message);
  });

  it.each([
    [
      "not JSON or YAML",
      "{ not: [valid",
      /^csr-approver: --instances bad\.json: is neither JSON nor YAML \(line \d+: /,
    ],
    ["empty", "  \n", "csr-approver: --instances bad.json: is empty"],
    ["the wrong shape", '{"Instances":[]}', `csr-approver: --instances bad.json: ${instancesShape}`],
    ["a string", '"i-0a1b2c3d4e5f60001"', `csr-approver: --instances bad.json: ${instancesShape}`],
    [
      "a reservation without Instances",
      '{"Reservations":[{"ReservationId":"r-1"}]}',
      `csr-approver: --instances bad.json: Reservations[0].Instances: ${instancesShape}`,
    ],
    [
      "an instance without InstanceId",
      '{"Reservations":[{"Instances":[{"State":{"Name":"running"}}]}]}',
      /^csr-approver: --instances bad\.json: Reservations\[0\]\.Instances\[0\]: expected an instance with an InstanceId/,
    ],
    [
      "an instance without a state",
      '{"Reservations":[{"Instances":[{"InstanceId":"i-0a1b2c3d4e5f60001"}]}]}',
      'csr-approver: --instances bad.json: Reservations[0].Instances[0].State.Name: expected the instance state, e.g. "running"',
    ],
  ])("--instances %s", async (_what, content, message) => {
    writeFileSync(file("bad.json"), content);
    expectUsageError(await runMain(["evaluate", "--csr", "csrs.json", "--instances", "bad.json"]), message);
  });

  it.each([
    [
      "a Node list",
      JSON.stringify({ kind: "NodeList", items: [] }),
      "csr-approver: --csr bad.json: expected a CertificateSigningRequest or a List of them, as `kubectl get csr -o json` prints",
    ],
    [
      "a list",
      "[]",
      "csr-approver: --csr bad.json: expected a CertificateSigningRequest or a List of them, as `kubectl get csr -o json` prints",
    ],
    [
      "an item without spec.request",
      JSON.stringify({
        kind: "List",
        items: [{ metadata: { name: "a" }, spec: { signerName: "kubernetes.io/kubelet-serving" } }],
      }),
      "csr-approver: --csr bad.json: items[0].spec.request: expected a base64 string in a CertificateSigningRequest",
    ],
    [
      "an item without a name",
      JSON.stringify({ kind: "CertificateSigningRequest", metadata: {}, spec: {} }),
      "csr-approver: --csr bad.json: metadata.name: expected a string in a CertificateSigningRequest",
    ],
    [
      "groups that are not a list",
      JSON.stringify({
        kind: "CertificateSigningRequestList",
        items: [
          {
            metadata: { name: "a" },
            spec: { signerName: "kubernetes.io/kubelet-serving", request: "", groups: "system:nodes" },
          },
        ],
      }),
      "csr-approver: --csr bad.json: items[0].spec.groups: expected a list of strings in a CertificateSigningRequest",
    ],
  ])("--csr %s", async (_what, content, message) => {
    writeFileSync(file("bad.json"), content);
    expectUsageError(
      await runMain(["evaluate", "--csr", "bad.json", "--instances", "instances.json"]),
      message,
    );
  });

  it("--csr - with bad stdin names stdin", async () => {
    expectUsageError(
      await runMain(["evaluate", "--csr", "-", "--instances", "instances.json"], ""),
      "csr-approver: --csr - (stdin): is empty",
    );
  });

  it("--node with the wrong shape", async () => {
    writeFileSync(file("bad-nodes.json"), JSON.stringify({ Reservations: [] }));
    expectUsageError(
      await runMain([
        "evaluate",
        "--csr",
        "csrs.json",
        "--instances",
        "instances.json",
        "--node",
        "bad-nodes.json",
      ]),
      "csr-approver: --node bad-nodes.json: expected a Node or a List of them, as `kubectl get node -o json` prints",
    );
  });

  it("--config that fails validation names the key", async () => {
    writeFileSync(file("bad-config.yaml"), "eks:\n  discovry: true\n");
    expectUsageError(
      await runMain([
        "evaluate",
        "--csr",
        "csrs.json",
        "--instances",
        "instances.json",
        "--config",
        "bad-config.yaml",
      ]),
      "csr-approver: --config bad-config.yaml: eks.discovry: unknown key",
    );
  });

  it("instances in several regions need --region", async () => {
    const instances = describeInstances();
    const first = (instances.Reservations[0]?.Instances as { Placement: { AvailabilityZone: string } }[])[0];
    if (first) first.Placement.AvailabilityZone = "us-east-1a";
    writeFileSync(file("two-regions.json"), JSON.stringify(instances));
    const args = [
      "evaluate",
      "--csr",
      "csrs.json",
      "--instances",
      "two-regions.json",
      "--cluster-vpc",
      CLUSTER_VPC,
    ];
    expectUsageError(
      await runMain(args),
      "csr-approver evaluate: the instances are in several regions (eu-west-1, us-east-1): pass --region (see csr-approver evaluate --help)",
    );
    expect((await runMain([...args, "--region", "eu-west-1"])).code).toBe(0);
  });

  it("--eks for a cluster configured as self-managed is a contradiction", async () => {
    writeFileSync(
      file("sm-config.yaml"),
      toYaml({
        selfManaged: [
          {
            name: "demo",
            region: "eu-west-1",
            endpoint: "https://10.0.0.10:6443",
            caData: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            credential: { ssmParameter: "/t" },
            vpcIds: [CLUSTER_VPC],
          },
        ],
      }),
    );
    expectUsageError(
      await runMain([
        "evaluate",
        "--csr",
        "csrs.json",
        "--instances",
        "instances.json",
        "--config",
        "sm-config.yaml",
        "--cluster",
        "demo",
        "--eks",
      ]),
      "csr-approver evaluate: --eks: cluster 'demo' is configured under selfManaged (see csr-approver evaluate --help)",
    );
  });
});

describe("help", () => {
  it.each([
    [["--help"], run],
    [["-h"], runMain],
    [["help"], runMain],
  ])("%j prints the command list and exits 0", async (args, runner) => {
    const result = await runner(args);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).toMatch(/^Usage: csr-approver <command> \[options\]/);
    for (const command of ["evaluate", "sweep", "setup-cluster"])
      expect(result.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
  });

  it.each([
    [["evaluate", "--help"], run],
    [["help", "evaluate"], runMain],
    [["evaluate", "--csr", "x", "-h"], runMain],
  ])("%j prints the evaluate options and exits 0", async (args, runner) => {
    const result = await runner(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: csr-approver evaluate --csr FILE\|- --instances FILE/);
    for (const flag of [
      "--csr",
      "--instances",
      "--node",
      "--cluster-vpc",
      "--now",
      "--config",
      "--cluster",
      "--eks",
      "--region",
      "--output",
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${flag} `, "m"));
    }
  });

  it("sweep --help describes the command slot", async () => {
    const result = await runMain(["sweep", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: csr-approver sweep /);
  });
});
