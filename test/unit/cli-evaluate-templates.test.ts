// `csr-approver evaluate --config --cluster` with nodeNameTemplates: a kubespray cluster (nodes
// named node1, node2 after the instances' Name tags) and a custom DHCP domain, through the real
// bin, plus bad templates refused with one line and exit 2.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify as toYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeletCsrObject } from "../support/csr-factory.js";
import { instance } from "./policy-fixtures.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = join(ROOT, "bin/csr-approver.mjs");
const VPC = "vpc-0a5b6c7d8e9f01234";
const CREATED = "2026-12-01T00:10:00Z";
const NOW = "2026-12-01T00:12:00Z";

let dir: string;
const file = (name: string) => join(dir, name);

function evaluate(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, "evaluate", ...args], { cwd: dir, encoding: "utf8" });
  const lines = result.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as {
          name: string;
          decision: string;
          reasons: { code: string }[];
          instanceId?: string;
        },
    );
  return { code: result.status, lines, stderr: result.stderr };
}

const cluster = (name: string, templates: unknown) => ({
  name,
  region: "eu-west-1",
  endpoint: "https://192.168.0.10:6443",
  caData: Buffer.from("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n").toString("base64"),
  credential: { ssmParameter: "/csr-approver/token" },
  vpcIds: [VPC],
  nodeNameTemplates: templates,
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "eval-templates-"));
  const csr = (name: string, node: string, dnsNames: string[], ips: string[]) =>
    kubeletCsrObject({ name, node, dnsNames, ips, creationTimestamp: CREATED });
  writeFileSync(
    file("csrs.json"),
    JSON.stringify({
      kind: "List",
      items: [
        csr("node1-own", "node1", ["node1"], ["192.168.207.7"]),
        csr("node1-neighbour-ip", "node1", ["node1"], ["192.168.207.8"]),
        csr("node1-neighbour-name", "node1", ["node2"], ["192.168.207.7"]),
        csr(
          "corp-own",
          "ip-192-168-207-8.corp.example.com",
          ["ip-192-168-207-8.corp.example.com"],
          ["192.168.207.8"],
        ),
        csr("node3-twins", "node3", ["node3"], ["192.168.207.9"]),
      ],
    }),
  );
  const tagged = (id: string, ip: string, name: string) =>
    instance({ id, ip, vpc: VPC, launch: "2026-12-01T00:05:00Z", tags: { Name: name } });
  writeFileSync(
    file("instances.json"),
    JSON.stringify({
      Reservations: [
        {
          Instances: [
            tagged("i-0a1b2c3d4e5f60718", "192.168.207.7", "node1"),
            tagged("i-0b2c3d4e5f6071829", "192.168.207.8", "node2"),
            // An Auto Scaling group copied one Name onto two instances.
            tagged("i-0c3d4e5f607182930", "192.168.207.9", "node3"),
            tagged("i-0d4e5f60718293a4b", "192.168.207.10", "node3"),
          ],
        },
      ],
    }),
  );
  writeFileSync(
    file("config.yaml"),
    toYaml({
      selfManaged: [
        cluster("kubespray", ["{{tag:Name}}"]),
        cluster("corp", ["{{shortName}}.corp.example.com"]),
        cluster("plain", []),
      ],
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const decisions = (lines: { name: string; decision: string; reasons: { code: string }[] }[]) =>
  Object.fromEntries(lines.map((l) => [l.name, `${l.decision} ${l.reasons.map((r) => r.code).join(",")}`]));

describe("evaluate with nodeNameTemplates", () => {
  const base = [
    "--csr",
    "csrs.json",
    "--instances",
    "instances.json",
    "--config",
    "config.yaml",
    "--now",
    NOW,
  ];

  it("a kubespray cluster: node1 by its Name tag, neighbours denied, a copied Name a conflict", () => {
    const { code, lines } = evaluate(...base, "--cluster", "kubespray");
    expect(code).toBe(0);
    expect(decisions(lines)).toMatchObject({
      "node1-own": "approve ALL_CHECKS_PASSED",
      "node1-neighbour-ip": "deny IP_NOT_OWNED",
      "node1-neighbour-name": "deny DNS_NOT_OWNED",
      "node3-twins": "deny IDENTITY_CONFLICT",
      "corp-own": "wait INSTANCE_NOT_VISIBLE",
    });
    expect(lines.find((l) => l.name === "node1-own")?.instanceId).toBe("i-0a1b2c3d4e5f60718");
  });

  it("a custom DHCP domain: the node is the instance of that short name", () => {
    const { lines } = evaluate(...base, "--cluster", "corp");
    expect(decisions(lines)).toMatchObject({
      "corp-own": "approve ALL_CHECKS_PASSED",
      "node1-own": "wait INSTANCE_NOT_VISIBLE",
    });
  });

  it("without templates nothing changes: inventory names are not EC2 names", () => {
    const { lines } = evaluate(...base, "--cluster", "plain");
    expect(new Set(lines.map((l) => l.decision))).toEqual(new Set(["wait"]));
  });

  it.each([
    [["node1"], "names no instance"],
    [["{{region}}"], "names no instance"],
    [["{{tag:}}"], "{{tag:}} names no tag key"],
    [["{{hostname}}"], "unknown placeholder {{hostname}}"],
    ["{{tag:Name}}", "expected a list"],
  ])("refuses the template %j with one line naming the key, exit 2", (templates, problem) => {
    writeFileSync(file("bad.yaml"), toYaml({ selfManaged: [cluster("kubespray", templates)] }));
    const result = spawnSync(
      process.execPath,
      [BIN, "evaluate", ...base.slice(0, 4), "--config", "bad.yaml"],
      {
        cwd: dir,
        encoding: "utf8",
      },
    );
    expect(result.status).toBe(2);
    expect(result.stdout).toBe("");
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("selfManaged[0].nodeNameTemplates");
    expect(lines[0]).toContain(problem);
  });
});
