// The organization artifacts (docs/organizations.md): the StackSet template that
// `npm run package -- --stackset` writes beside the zips, and the central templates
// (infra/org/central-alerts.yml, infra/org/central-dashboard.yml). Read, linted by cfn-lint
// and checkov (same gates as the per-account template), and checked for what a StackSet needs:
// nothing account- or region-specific baked in, every parameter used, the function code from
// the S3 parameters, and a central topic only the organization's approvers can publish to.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, type Tags } from "yaml";
import { parseConfig } from "../../functions/core/config.js";
import { lintTemplates } from "../../scripts/cfn-lint.mjs";
import { SUPPRESSED, checkTemplates } from "../../scripts/checkov.mjs";
import {
  DRY_RUN_DOCUMENT,
  MAX_ACCESS_ENTRY_CLUSTERS,
  STACKSET_TEMPLATE_FILE,
  assertPortable,
} from "../../infra/stackset.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const CENTRAL_ALERTS = path.join(ROOT, "infra", "org", "central-alerts.yml");
const CENTRAL_DASHBOARD = path.join(ROOT, "infra", "org", "central-dashboard.yml");

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Condition?: string;
  Properties: Json;
}
interface Template {
  Description?: string;
  Parameters: Record<string, Json & { Default?: string }>;
  Conditions?: Json;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, Json>;
}
interface Statement {
  Sid: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

let workDir: string;
let outDir: string;
let stackset: Template;
let packageOutput: string;

function runPackage(dir: string, extra: string[] = []) {
  return spawnSync(
    process.execPath,
    [
      path.join(ROOT, "scripts", "package.mjs"),
      "--no-size-limit",
      "--stackset",
      "--stage",
      "orgtest",
      "--package",
      dir,
      ...extra,
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 },
  );
}

beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), "csr-approver-stackset-"));
  outDir = path.join(workDir, "out");
  const result = runPackage(outDir);
  packageOutput = result.stdout + result.stderr;
  if (result.status !== 0) throw new Error(`package --stackset failed:\n${packageOutput}`);
  stackset = JSON.parse(readFileSync(path.join(outDir, STACKSET_TEMPLATE_FILE), "utf8")) as Template;
}, 600_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** CloudFormation's short-form YAML tags, as the long form (what cfn-lint and checkov read). */
const CFN_TAGS: Tags = [
  "Ref",
  "Sub",
  "GetAtt",
  "If",
  "Equals",
  "Not",
  "And",
  "Or",
  "Select",
  "Split",
].flatMap((name) => {
  const key = name === "Ref" ? "Ref" : `Fn::${name}`;
  return (["scalar", "seq"] as const).map((nodeClass) => ({
    tag: `!${name}`,
    collection: nodeClass === "seq" ? ("seq" as const) : undefined,
    resolve: (value: unknown) => {
      const plain = (value as { toJSON?: () => unknown }).toJSON?.() ?? value;
      return { [key]: name === "GetAtt" && typeof plain === "string" ? plain.split(".") : plain };
    },
  }));
}) as Tags;

const readYamlTemplate = (file: string) =>
  parse(readFileSync(file, "utf8"), { customTags: CFN_TAGS }) as Template;

/** Every string value of a subtree. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === "object") return Object.values(value).flatMap(strings);
  return [];
}

/** The parameter names a template uses: Ref X and ${X} in Fn::Sub text. */
function usedNames(template: Template): Set<string> {
  const { Parameters: _unused, ...rest } = template;
  const text = JSON.stringify(rest);
  const used = new Set<string>();
  for (const m of text.matchAll(/"Ref":"([A-Za-z0-9:]+)"/g)) used.add(m[1]!);
  for (const m of text.matchAll(/\$\{([A-Za-z0-9:]+)\}/g)) used.add(m[1]!);
  return used;
}

const sub = (text: unknown) => ({ "Fn::Sub": text });

describe("StackSet template: portable", () => {
  it("is written beside the zips, under a name that says stackset", () => {
    expect(STACKSET_TEMPLATE_FILE).toContain("stackset");
    expect(packageOutput).toContain(path.join(outDir, STACKSET_TEMPLATE_FILE));
    expect(stackset.Description).toContain("StackSet");
    // CreateStackSet --template-body takes at most 51,200 bytes (docs/organizations.md, step 5).
    expect(readFileSync(path.join(outDir, STACKSET_TEMPLATE_FILE)).length).toBeLessThan(51_200);
  });

  it("bakes in no account ID, region or literal ARN (pseudo-parameters and Fn::Sub instead)", () => {
    const { Parameters: _parameters, ...body } = stackset;
    for (const s of strings(body)) {
      expect(s, s).not.toMatch(/(?<![0-9])[0-9]{12}(?![0-9])/);
      expect(s, s).not.toMatch(/\b(us|eu|ap|sa|ca|me|af|il|mx)-(north|south|east|west|central)\w*-\d\b/);
      expect(s, s).not.toMatch(/arn:aws/);
    }
    // The ARNs it does build come from the pseudo-parameters.
    const text = JSON.stringify(body);
    expect(text).toContain(
      "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}",
    );
    expect(text).toContain("arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*");
  });

  it("the portability gate names what is not portable", () => {
    const template = { Parameters: { P: { Default: "123456789012" } }, Resources: { R: { Properties: {} } } };
    expect(() => assertPortable(template)).not.toThrow();
    expect(() =>
      assertPortable({ ...template, Resources: { R: { Properties: { A: "x-123456789012" } } } }),
    ).toThrow('Resources.R.Properties.A holds an account ID ("123456789012")');
    expect(() => assertPortable({ Resources: { R: { Properties: { B: ["eu-west-1"] } } } })).toThrow(
      "Resources.R.Properties.B[0] holds a region",
    );
    expect(() => assertPortable({ Resources: { R: { Properties: { C: "arn:aws:sns:x" } } } })).toThrow(
      "holds a literal ARN",
    );
  });

  it("refuses to build from params that bake a region in (eksRegions)", () => {
    const result = runPackage(path.join(workDir, "regions"), ["--param=eksRegions=eu-west-1"]);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(
      /stackset: Resources\.ApproverRole\..* holds a region \("eu-west-1"\): not portable/,
    );
  }, 300_000);

  it("uses every parameter it declares, and declares every name it refers to", () => {
    const used = usedNames(stackset);
    const declared = Object.keys(stackset.Parameters);
    expect(declared.sort()).toEqual(
      [
        "ApproverCodeKey",
        "ArtifactBucketPrefix",
        "CentralAlertTopicArn",
        "CentralAlertTopicKmsKeyArn",
        "ConfigDocument",
        "ConfigParameterName",
        "EksAccessEntryClusters",
      ].sort(),
    );
    for (const name of declared) expect(used.has(name), name).toBe(true);
    // Names bound by an Fn::Sub's own variable map are local to it.
    const local = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk);
      if (!v || typeof v !== "object") return;
      const subValue = (v as Json)["Fn::Sub"];
      if (Array.isArray(subValue)) for (const k of Object.keys(subValue[1] as Json)) local.add(k);
      Object.values(v).forEach(walk);
    };
    walk(stackset.Resources);
    expect([...local]).toEqual(["TopicRegion"]);
    for (const name of used) {
      if (name.startsWith("AWS::") || local.has(name)) continue;
      expect(name in stackset.Parameters || name in stackset.Resources, name).toBe(true);
    }
    for (const name of Object.keys(stackset.Parameters)) {
      expect(stackset.Parameters[name]!.Description, name).toBeTruthy();
    }
  });

  it("takes the function code from the S3 parameters: the region's bucket, the zip's content key", () => {
    const functions = Object.entries(stackset.Resources).filter(
      ([, r]) => r.Type === "AWS::Lambda::Function",
    );
    // Slack listens to the central topic: no notifier per account.
    expect(functions.map(([id]) => id)).toEqual(["ApproverLambdaFunction"]);
    expect(functions[0]![1].Properties.Code).toEqual({
      S3Bucket: sub("${ArtifactBucketPrefix}-${AWS::Region}"),
      S3Key: { Ref: "ApproverCodeKey" },
    });
    const digest = createHash("sha256")
      .update(readFileSync(path.join(outDir, "approver.zip")))
      .digest("hex")
      .slice(0, 16);
    const key = `csr-approver/orgtest/${digest}/approver.zip`;
    expect(stackset.Parameters.ApproverCodeKey!.Default).toBe(key);
    expect(packageOutput).toContain(`s3://<ArtifactBucketPrefix>-<region>/${key}`);
    expect(stackset.Parameters.ArtifactBucketPrefix!.Default).toBeUndefined();
    expect(JSON.stringify(stackset)).not.toMatch(/ServerlessDeploymentBucket|Notifier/);
  });

  it("the approver reads the configuration parameter and publishes to the central topic when one is given", () => {
    const approver = stackset.Resources.ApproverLambdaFunction!.Properties;
    const env = (approver.Environment as { Variables: Json }).Variables;
    expect(env.CONFIG_PARAMETER).toEqual({ Ref: "ConfigParameterName" });
    expect(env.ALERT_TOPIC_ARN).toEqual({
      "Fn::If": ["HasCentralTopic", { Ref: "CentralAlertTopicArn" }, { Ref: "AlertTopic" }],
    });
    expect(stackset.Conditions?.HasCentralTopic).toEqual({
      "Fn::Not": [{ "Fn::Equals": [{ Ref: "CentralAlertTopicArn" }, ""] }],
    });
    // Alarms stay on the local topic.
    for (const [id, r] of Object.entries(stackset.Resources)) {
      if (r.Type === "AWS::CloudWatch::Alarm")
        expect(r.Properties.AlarmActions, id).toEqual([{ Ref: "AlertTopic" }]);
    }
  });

  it("writes the configuration document when the StackSet carries one: dry-run unless overridden", () => {
    expect(stackset.Parameters.ConfigDocument!.Default).toBe(DRY_RUN_DOCUMENT);
    expect(parseConfig(parse(DRY_RUN_DOCUMENT)).defaults.mode).toBe("dry-run");
    expect(stackset.Resources.ConfigParameter).toEqual({
      Type: "AWS::SSM::Parameter",
      Condition: "HasConfigDocument",
      Properties: {
        Name: { Ref: "ConfigParameterName" },
        Type: "String",
        Value: { Ref: "ConfigDocument" },
        Description: expect.any(String) as string,
      },
    });
    expect(stackset.Conditions?.HasConfigDocument).toEqual({
      "Fn::Not": [{ "Fn::Equals": [{ Ref: "ConfigDocument" }, ""] }],
    });
  });

  it("IAM: Publish on the topic it publishes to only (the central one when set); its key only through SNS in its region", () => {
    const role = stackset.Resources.ApproverRole!.Properties;
    expect(role.RoleName).toEqual(sub("csr-approver-orgtest-approver-${AWS::Region}"));
    const sweep = (role.Policies as { PolicyName: string; PolicyDocument: { Statement: unknown[] } }[]).find(
      (p) => p.PolicyName === "sweep",
    )!;
    const plain = sweep.PolicyDocument.Statement.filter((s): s is Statement => !("Fn::If" in (s as Json)));
    const bySid = Object.fromEntries(plain.map((s) => [s.Sid, s]));
    expect(bySid.PublishAlerts!.Resource).toEqual([
      { "Fn::If": ["HasCentralTopic", { Ref: "CentralAlertTopicArn" }, { Ref: "AlertTopic" }] },
    ]);
    expect(bySid.ConfigAndCredentialParameters!.Resource).toEqual([
      sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}"),
    ]);
    const conditional = sweep.PolicyDocument.Statement.filter((s) => "Fn::If" in (s as Json)) as {
      "Fn::If": [string, Statement, unknown];
    }[];
    expect(conditional).toHaveLength(1);
    const [condition, key, otherwise] = conditional[0]!["Fn::If"];
    expect(condition).toBe("HasCentralTopicKey");
    expect(otherwise).toEqual({ Ref: "AWS::NoValue" });
    expect(key.Action).toEqual(["kms:GenerateDataKey", "kms:Decrypt"]);
    expect(key.Resource).toEqual([{ Ref: "CentralAlertTopicKmsKeyArn" }]);
    expect(key.Condition).toEqual({
      StringEquals: {
        "kms:ViaService": sub([
          "sns.${TopicRegion}.${AWS::URLSuffix}",
          { TopicRegion: { "Fn::Select": [3, { "Fn::Split": [":", { Ref: "CentralAlertTopicArn" }] }] } },
        ]),
      },
    });
    // A key without a topic grants nothing.
    expect(stackset.Conditions?.HasCentralTopicKey).toEqual({
      "Fn::And": [
        { Condition: "HasCentralTopic" },
        { "Fn::Not": [{ "Fn::Equals": [{ Ref: "CentralAlertTopicKmsKeyArn" }, ""] }] },
      ],
    });
  });

  it(`EKS access entries: one conditional slot per listed cluster (at most ${MAX_ACCESS_ENTRY_CLUSTERS}), group csr-approver:approvers, no access policy`, () => {
    const entries = Object.entries(stackset.Resources).filter(([, r]) => r.Type === "AWS::EKS::AccessEntry");
    expect(entries).toHaveLength(MAX_ACCESS_ENTRY_CLUSTERS);
    entries.forEach(([, entry], i) => {
      expect(entry.Condition).toBe(`HasAccessEntry${i}`);
      const name = {
        "Fn::Select": [
          i,
          { "Fn::Split": [",", sub(`\${EksAccessEntryClusters}${",".repeat(MAX_ACCESS_ENTRY_CLUSTERS)}`)] },
        ],
      };
      expect(entry.Properties).toEqual({
        ClusterName: name,
        PrincipalArn: { "Fn::GetAtt": ["ApproverRole", "Arn"] },
        Type: "STANDARD",
        KubernetesGroups: ["csr-approver:approvers"],
      });
      expect(stackset.Conditions?.[`HasAccessEntry${i}`]).toEqual({
        "Fn::Not": [{ "Fn::Equals": [name, ""] }],
      });
    });
    const pattern = new RegExp(stackset.Parameters.EksAccessEntryClusters!.AllowedPattern as string);
    expect(pattern.test("")).toBe(true);
    expect(pattern.test("prod-a,prod_b")).toBe(true);
    expect(pattern.test(Array.from({ length: MAX_ACCESS_ENTRY_CLUSTERS }, (_, i) => `c${i}`).join(","))).toBe(
      true,
    );
    expect(
      pattern.test(Array.from({ length: MAX_ACCESS_ENTRY_CLUSTERS + 1 }, (_, i) => `c${i}`).join(",")),
    ).toBe(false);
    expect(pattern.test("a,,b")).toBe(false);
    expect(pattern.test("bad name")).toBe(false);
  });

  it("the dashboard lists only alarms the template has", () => {
    const board = stackset.Resources.ApproverDashboard!.Properties.DashboardBody as { "Fn::Sub": string };
    const alarms = (
      JSON.parse(board["Fn::Sub"]) as { widgets: { properties: { alarms?: string[] } }[] }
    ).widgets
      .flatMap((w) => w.properties.alarms ?? [])
      .map((a) => /^\$\{(\w+)\.Arn\}$/.exec(a)?.[1]);
    const defined = Object.entries(stackset.Resources)
      .filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm")
      .map(([id]) => id);
    expect(alarms.sort()).toEqual(defined.sort());
  });
});

describe("central alert topic (infra/org/central-alerts.yml)", () => {
  const central = () => readYamlTemplate(CENTRAL_ALERTS);
  const orgCondition = { "aws:PrincipalOrgID": { Ref: "OrganizationId" } };
  const approverRoles = sub("arn:${AWS::Partition}:iam::*:role/${ApproverRoleNamePattern}");

  it("the topic policy lets only the organization's approver roles and this account's alarms publish", () => {
    const policy = central().Resources.AlertTopicPolicy!.Properties.PolicyDocument as {
      Statement: Statement[];
    };
    const bySid = Object.fromEntries(policy.Statement.map((s) => [s.Sid, s]));
    const allows = policy.Statement.filter((s) => s.Effect === "Allow");
    expect(allows.map((s) => s.Sid)).toEqual(["OrganizationApproversPublish", "ThisAccountsAlarms"]);
    for (const s of allows) expect(s.Action).toBe("sns:Publish");
    expect(bySid.OrganizationApproversPublish!.Principal).toEqual({ AWS: "*" });
    expect(bySid.OrganizationApproversPublish!.Condition).toEqual({
      StringEquals: orgCondition,
      ArnLike: { "aws:PrincipalArn": approverRoles },
    });
    expect(bySid.ThisAccountsAlarms!.Principal).toEqual({ Service: "cloudwatch.amazonaws.com" });
    expect(bySid.ThisAccountsAlarms!.Condition?.StringEquals).toEqual({
      "aws:SourceAccount": { Ref: "AWS::AccountId" },
    });
    // Explicit denies: outside the organization, or not an approver role (CloudWatch excepted).
    expect(bySid.NoPublisherOutsideTheOrganization).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Action: "sns:Publish",
      Condition: {
        StringNotEquals: { ...orgCondition, "aws:PrincipalServiceName": "cloudwatch.amazonaws.com" },
      },
    });
    expect(bySid.NoPublisherButTheApprovers).toMatchObject({
      Effect: "Deny",
      Principal: "*",
      Condition: {
        ArnNotLike: { "aws:PrincipalArn": approverRoles },
        StringNotEquals: { "aws:PrincipalServiceName": "cloudwatch.amazonaws.com" },
      },
    });
    expect(bySid.DenyInsecureTransport?.Condition).toEqual({ Bool: { "aws:SecureTransport": "false" } });
    // The role name pattern matches what the StackSet names its approver role.
    const pattern = central().Parameters.ApproverRoleNamePattern!.Default!;
    const regex = new RegExp(
      `^${pattern
        .split("*")
        .map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"))
        .join(".*")}$`,
    );
    const roleName = (stackset.Resources.ApproverRole!.Properties.RoleName as { "Fn::Sub": string })[
      "Fn::Sub"
    ];
    expect(regex.test(roleName.replace("${AWS::Region}", "eu-west-1"))).toBe(true);
  });

  it("the KMS key policy: the organization's approver roles through SNS, this account's alarms, nothing else", () => {
    const key = central().Resources.AlertTopicKey!;
    expect(key.Condition).toBe("Encrypted");
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const statements = (key.Properties.KeyPolicy as { Statement: Statement[] }).Statement;
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(Object.keys(bySid)).toEqual([
      "AccountAdministers",
      "OrganizationApproversPublish",
      "ThisAccountsAlarms",
    ]);
    expect(bySid.AccountAdministers!.Principal).toEqual({
      AWS: sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"),
    });
    expect(bySid.OrganizationApproversPublish!.Action).toEqual(["kms:GenerateDataKey", "kms:Decrypt"]);
    expect(bySid.OrganizationApproversPublish!.Condition).toEqual({
      StringEquals: { ...orgCondition, "kms:ViaService": sub("sns.${AWS::Region}.${AWS::URLSuffix}") },
      ArnLike: { "aws:PrincipalArn": approverRoles },
    });
    expect(bySid.ThisAccountsAlarms!.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
    });
    expect(central().Resources.AlertTopic!.Properties.KmsMasterKeyId).toEqual({
      "Fn::If": ["Encrypted", { Ref: "AlertTopicKey" }, { Ref: "AWS::NoValue" }],
    });
  });

  it("central templates use every parameter they declare", () => {
    for (const file of [CENTRAL_ALERTS, CENTRAL_DASHBOARD]) {
      const template = readYamlTemplate(file);
      const used = usedNames(template);
      for (const name of Object.keys(template.Parameters))
        expect(used.has(name), `${file}: ${name}`).toBe(true);
    }
  });

  it("the org dashboard and alarms group by account (cross-account observability), the approved-elsewhere metrics included", () => {
    const template = readYamlTemplate(CENTRAL_DASHBOARD);
    const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === "AWS::CloudWatch::Alarm");
    expect(alarms.map(([id]) => id).sort()).toEqual(
      [
        "OrgApprovedElsewhereViolationsAlarm",
        "OrgApproverErrorsAlarm",
        "OrgClusterSweepFailedAlarm",
        "OrgCsrDeniedAlarm",
      ].sort(),
    );
    for (const [id, alarm] of alarms) {
      const [query] = alarm.Properties.Metrics as { Expression: { "Fn::Sub": string } }[];
      expect(query!.Expression["Fn::Sub"], id).toMatch(/GROUP BY AWS\.AccountId/);
    }
    const body = (template.Resources.OrgDashboard!.Properties.DashboardBody as { "Fn::Sub": string })[
      "Fn::Sub"
    ];
    const widgets = (
      JSON.parse(body) as {
        widgets: { properties: { metrics?: { expression: string }[][]; alarms?: string[] } }[];
      }
    ).widgets;
    const queries = widgets.flatMap((w) => (w.properties.metrics ?? []).map(([m]) => m!.expression));
    for (const q of queries) expect(q).toContain("GROUP BY AWS.AccountId");
    const metrics = queries.map((q) => /\((\w+)\)/.exec(q)?.[1]);
    for (const m of [
      "CsrApproved",
      "CsrDenied",
      "CsrApprovedElsewhere",
      "CsrApprovedElsewhereViolations",
      "ClusterSweepFailed",
      "Invocations",
    ]) {
      expect(metrics).toContain(m);
    }
    expect(
      widgets
        .flatMap((w) => w.properties.alarms ?? [])
        .map((a) => /^\$\{(\w+)\.Arn\}$/.exec(a)?.[1])
        .sort(),
    ).toEqual(alarms.map(([id]) => id).sort());
  });
});

describe("lint gates", () => {
  it("cfn-lint: the StackSet template and both central templates, no finding", () => {
    const { status, output } = lintTemplates([
      path.join(outDir, STACKSET_TEMPLATE_FILE),
      CENTRAL_ALERTS,
      CENTRAL_DASHBOARD,
    ]);
    expect(output).toBe("");
    expect(status).toBe(0);
  }, 600_000);

  it("checkov: the StackSet template and the central topic, every finding a justified suppression", () => {
    const { findings, unexplained } = checkTemplates([
      path.join(outDir, STACKSET_TEMPLATE_FILE),
      CENTRAL_ALERTS,
    ]);
    expect(unexplained).toEqual([]);
    const found = findings.map((f) => `${f.check} ${f.resource}`);
    // The KMS key's '*' principal is flagged, and suppressed with the organization conditions as reason.
    expect(found).toContain("CKV_AWS_33 AWS::KMS::Key.AlertTopicKey");
    const why = SUPPRESSED.find((s) => s.check === "CKV_AWS_33")!.why;
    expect(why).toContain("aws:PrincipalOrgID");
    // Checks that the StackSet template passes, not suppressed: its role and queue are as the per-account one's.
    expect(findings.filter((f) => f.template.includes(STACKSET_TEMPLATE_FILE)).length).toBeGreaterThan(0);
  }, 600_000);
});
