// What `npm run package` produces: the CloudFormation template (IAM exactly as SPEC §9,
// triggers, concurrency, runtime, DLQ, alarms, EKS access entries) checked by reading it,
// validated by cfn-lint, and the bundles checked against their budget. Two renderings: the
// default params, and every optional param set (access entries, credentials, KMS, VPC,
// Slack webhook).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import {
  APPROVER_BUNDLE_BUDGET_BYTES,
  bundleSizes,
  checkBundleSizes,
  readZipEntry,
  zipEntrySizes,
} from "../../scripts/package.mjs";
import { lintTemplates } from "../../scripts/cfn-lint.mjs";
import { SUPPRESSED, checkTemplates } from "../../scripts/checkov.mjs";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: unknown;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, Json>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
interface Policy {
  PolicyName: string;
  PolicyDocument: { Statement: Statement[] };
}

const FULL_PARAMS = {
  eksAccessEntryClusters: "prod-a,prod_b",
  eksClusterNames: "prod-a,prod_b",
  eksRegions: "eu-west-1,us-east-1",
  credentialSecretArns: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kubeadm-token-AbCdEf",
  credentialParameterNames:
    "/clusters/kubespray/token,arn:aws:ssm:eu-west-1:123456789012:parameter/lab/token",
  parameterKmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/99999999-12ab-34cd-56ef-1234567890ab",
  slackWebhookSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook-AbCdEf",
  alertTopicKmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  centralAlertTopicArn: "arn:aws:sns:eu-central-1:222222222222:csr-approver-org-alerts",
  centralAlertTopicKmsKeyArn:
    "arn:aws:kms:eu-central-1:222222222222:key/abcd1234-12ab-34cd-56ef-1234567890ab",
  vpcSubnetIds: "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
  vpcSecurityGroupIds: "sg-0123456789abcdef0",
};

let workDir: string;
let defaultDir: string;
let fullDir: string;
let defaults: Template;
let full: Template;

function runPackage(outDir: string, params: Record<string, string> = {}, extra: string[] = []): Template {
  const args = [
    path.join(ROOT, "scripts", "package.mjs"),
    "--no-size-limit",
    ...extra,
    "--stage",
    "unittest",
    "--package",
    outDir,
    ...Object.entries(params).map(([key, value]) => `--param=${key}=${value}`),
  ];
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) {
    throw new Error(
      `package failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  expect(result.stdout + result.stderr).not.toContain("offline-guard");
  return JSON.parse(
    readFileSync(path.join(outDir, "cloudformation-template-update-stack.json"), "utf8"),
  ) as Template;
}

beforeAll(() => {
  workDir = mkdtempSync(path.join(tmpdir(), "csr-approver-package-"));
  defaultDir = path.join(workDir, "default");
  fullDir = path.join(workDir, "full");
  // The StackSet template too (test/unit/stackset-template.test.ts checks it): checkov's
  // suppressions are checked for staleness over every template the project ships.
  defaults = runPackage(defaultDir, {}, ["--stackset"]);
  full = runPackage(fullDir, FULL_PARAMS);
}, 600_000);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resources = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

function ofType(t: Template, type: string): [string, Resource][] {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

function policies(t: Template, roleId: string): Policy[] {
  const role = t.Resources[roleId];
  expect(role?.Type).toBe("AWS::IAM::Role");
  return (role!.Properties.Policies ?? []) as Policy[];
}

function statements(t: Template, roleId: string, policyName?: string): Statement[] {
  return policies(t, roleId)
    .filter((p) => policyName === undefined || p.PolicyName === policyName)
    .flatMap((p) => p.PolicyDocument.Statement);
}

/** action → the resources it is granted on, across the role's statements. */
function grants(t: Template, roleId: string, policyName?: string): Map<string, unknown[]> {
  const map = new Map<string, unknown[]>();
  for (const s of statements(t, roleId, policyName)) {
    expect(s.Effect).toBe("Allow");
    for (const a of actions(s)) map.set(a, [...(map.get(a) ?? []), ...resources(s)]);
  }
  return map;
}

const sub = (text: string) => ({ "Fn::Sub": text });
const LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"];
const SPEC_SECTION_9 = [
  "eks:ListClusters",
  "eks:DescribeCluster",
  "ec2:DescribeInstances",
  "sns:Publish",
  "secretsmanager:GetSecretValue",
  "ssm:GetParameter",
];

// ---------------------------------------------------------------------------------------
// IAM
// ---------------------------------------------------------------------------------------

describe("IAM: per-function roles, SPEC §9 exactly", () => {
  it("gives each function its own role and creates no shared framework role", () => {
    const fns = Object.fromEntries(ofType(defaults, "AWS::Lambda::Function"));
    expect(Object.keys(fns).sort()).toEqual(["ApproverLambdaFunction", "NotifierLambdaFunction"]);
    expect(fns.ApproverLambdaFunction!.Properties.Role).toEqual({ "Fn::GetAtt": ["ApproverRole", "Arn"] });
    expect(fns.NotifierLambdaFunction!.Properties.Role).toEqual({ "Fn::GetAtt": ["NotifierRole", "Arn"] });
    expect(
      ofType(defaults, "AWS::IAM::Role")
        .map(([id]) => id)
        .sort(),
    ).toEqual(["ApproverRole", "NotifierRole"]);
    for (const t of [defaults, full]) {
      for (const [, role] of ofType(t, "AWS::IAM::Role")) {
        expect(role.Properties.ManagedPolicyArns).toBeUndefined();
        expect(role.Properties.AssumeRolePolicyDocument).toEqual({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        });
      }
      expect(ofType(t, "AWS::IAM::Policy")).toEqual([]);
      expect(ofType(t, "AWS::IAM::ManagedPolicy")).toEqual([]);
    }
  });

  it("default approver: the sweep policy holds SPEC §9's actions and nothing else, scoped", () => {
    const sweep = grants(defaults, "ApproverRole", "sweep");
    // No credential secrets configured: no secretsmanager statement at all.
    expect([...sweep.keys()].sort()).toEqual(
      [
        "eks:ListClusters",
        "eks:DescribeCluster",
        "ec2:DescribeInstances",
        "sns:Publish",
        "ssm:GetParameter",
      ].sort(),
    );
    expect(sweep.get("eks:ListClusters")).toEqual(["*"]);
    expect(sweep.get("ec2:DescribeInstances")).toEqual(["*"]);
    // The stack's region only, unless eksRegions lists more.
    expect(sweep.get("eks:DescribeCluster")).toEqual([
      sub("arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*"),
    ]);
    // A SecureString under aws/ssm needs no KMS grant: none without parameterKmsKeyArn.
    expect(JSON.stringify(policies(defaults, "ApproverRole"))).not.toContain("kms:");
    expect(sweep.get("sns:Publish")).toEqual([{ Ref: "AlertTopic" }]);
    expect(sweep.get("ssm:GetParameter")).toEqual([
      sub(
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/csr-approver/unittest/config",
      ),
    ]);
  });

  it("runtime policy: own log streams and the DLQ only; no other policy on the default roles", () => {
    for (const [role, logGroup] of [
      ["ApproverRole", "ApproverLogGroup"],
      ["NotifierRole", "NotifierLogGroup"],
    ] as const) {
      const runtime = grants(defaults, role, "runtime");
      expect([...runtime.keys()].sort()).toEqual([...LOGS, "sqs:SendMessage"].sort());
      for (const a of LOGS) expect(runtime.get(a)).toEqual([{ "Fn::GetAtt": [logGroup, "Arn"] }]);
      expect(runtime.get("sqs:SendMessage")).toEqual([{ "Fn::GetAtt": ["AsyncFailureQueue", "Arn"] }]);
    }
    expect(policies(defaults, "ApproverRole").map((p) => p.PolicyName)).toEqual(["sweep", "runtime"]);
    // No webhook configured: the notifier can read no secret at all.
    expect(policies(defaults, "NotifierRole").map((p) => p.PolicyName)).toEqual(["runtime"]);
  });

  it("full params: credentials scoped to the configured ARNs, DescribeCluster to the named clusters", () => {
    const sweep = grants(full, "ApproverRole", "sweep");
    expect([...sweep.keys()].sort()).toEqual(
      [...SPEC_SECTION_9, "kms:GenerateDataKey", "kms:Decrypt"].sort(),
    );
    expect(sweep.get("secretsmanager:GetSecretValue")).toEqual([FULL_PARAMS.credentialSecretArns]);
    expect(sweep.get("ssm:GetParameter")).toEqual([
      sub(
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/csr-approver/unittest/config",
      ),
      sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/clusters/kubespray/token"),
      "arn:aws:ssm:eu-west-1:123456789012:parameter/lab/token",
    ]);
    expect(sweep.get("eks:DescribeCluster")).toEqual([
      sub("arn:${AWS::Partition}:eks:eu-west-1:${AWS::AccountId}:cluster/prod-a"),
      sub("arn:${AWS::Partition}:eks:eu-west-1:${AWS::AccountId}:cluster/prod_b"),
      sub("arn:${AWS::Partition}:eks:us-east-1:${AWS::AccountId}:cluster/prod-a"),
      sub("arn:${AWS::Partition}:eks:us-east-1:${AWS::AccountId}:cluster/prod_b"),
    ]);
    expect(JSON.stringify(sweep.get("eks:DescribeCluster"))).not.toContain("eks:*");
    // The topics' KMS keys, for Publish to an encrypted topic: those keys only.
    expect(sweep.get("kms:GenerateDataKey")).toEqual([
      FULL_PARAMS.centralAlertTopicKmsKeyArn,
      FULL_PARAMS.alertTopicKmsKeyArn,
    ]);
    // Decrypt: the topics' keys, and the SecureString parameters' key (below).
    expect(sweep.get("kms:Decrypt")).toEqual([
      FULL_PARAMS.centralAlertTopicKmsKeyArn,
      FULL_PARAMS.parameterKmsKeyArn,
      FULL_PARAMS.alertTopicKmsKeyArn,
    ]);
    // VPC attachment adds the ENI actions Lambda needs, in their own policy.
    const vpc = grants(full, "ApproverRole", "vpc-attachment");
    expect([...vpc.keys()].sort()).toEqual(
      [
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:UnassignPrivateIpAddresses",
      ].sort(),
    );
    expect(policies(defaults, "ApproverRole").some((p) => p.PolicyName === "vpc-attachment")).toBe(false);
  });

  it("full params: the SecureString key may decrypt only through SSM, only the configured parameters", () => {
    const keyStatement = statements(full, "ApproverRole", "sweep").find(
      (s) => s.Sid === "SecureStringParameterKey",
    ) as Statement & { Condition?: Json };
    expect(keyStatement).toBeDefined();
    expect(keyStatement.Action).toEqual(["kms:Decrypt"]);
    expect(keyStatement.Resource).toEqual([FULL_PARAMS.parameterKmsKeyArn]);
    expect(keyStatement.Condition).toEqual({
      StringEquals: {
        "kms:ViaService": [
          sub("ssm.${AWS::Region}.${AWS::URLSuffix}"),
          sub("ssm.eu-west-1.${AWS::URLSuffix}"),
        ],
        "kms:EncryptionContext:PARAMETER_ARN": [
          sub(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/csr-approver/unittest/config",
          ),
          sub(
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/clusters/kubespray/token",
          ),
          "arn:aws:ssm:eu-west-1:123456789012:parameter/lab/token",
        ],
      },
    });
    // The topic key's statement is unconditional but names only the topic key.
    const topicKey = statements(full, "ApproverRole", "sweep").find((s) => s.Sid === "EncryptedTopicKey");
    expect(topicKey?.Resource).toEqual([FULL_PARAMS.alertTopicKmsKeyArn]);
  });

  it("a central topic (docs/organizations.md): alerts go there, alarms stay local, the role gets a name the topic policy matches", () => {
    // Default: the stack's own topic, a generated role name.
    const env = (t: Template) =>
      (t.Resources.ApproverLambdaFunction!.Properties.Environment as { Variables: Json }).Variables;
    expect(env(defaults).ALERT_TOPIC_ARN).toEqual({ Ref: "AlertTopic" });
    expect(defaults.Resources.ApproverRole!.Properties.RoleName).toBeUndefined();
    expect(statements(defaults, "ApproverRole").some((s) => s.Sid === "CentralTopicKey")).toBe(false);

    expect(env(full).ALERT_TOPIC_ARN).toBe(FULL_PARAMS.centralAlertTopicArn);
    expect(full.Resources.ApproverRole!.Properties.RoleName).toEqual(
      sub("csr-approver-unittest-approver-${AWS::Region}"),
    );
    // Publish: the central topic only (the local one keeps the alarms, not the approver's alerts).
    expect(grants(full, "ApproverRole", "sweep").get("sns:Publish")).toEqual([
      FULL_PARAMS.centralAlertTopicArn,
    ]);
    // Its key: only through SNS, in the central topic's region.
    const key = statements(full, "ApproverRole", "sweep").find((s) => s.Sid === "CentralTopicKey") as
      (Statement & { Condition?: Json }) | undefined;
    expect(key?.Resource).toEqual([FULL_PARAMS.centralAlertTopicKmsKeyArn]);
    expect(key?.Condition).toEqual({
      StringEquals: { "kms:ViaService": sub("sns.eu-central-1.${AWS::URLSuffix}") },
    });
    for (const [, alarm] of ofType(full, "AWS::CloudWatch::Alarm")) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: "AlertTopic" }]);
    }
  });

  it("full params: the notifier reads its webhook secret and nothing else", () => {
    const notifier = grants(full, "NotifierRole");
    expect([...notifier.keys()].sort()).toEqual(
      ["secretsmanager:GetSecretValue", "sqs:SendMessage", ...LOGS].sort(),
    );
    expect(notifier.get("secretsmanager:GetSecretValue")).toEqual([FULL_PARAMS.slackWebhookSecretArn]);
    // …and the approver cannot read the webhook.
    expect(JSON.stringify(full.Resources.ApproverRole)).not.toContain("slack-webhook");
  });

  it("no wildcard action anywhere, and '*' resources only where AWS supports nothing narrower", () => {
    const starAllowed = new Set([
      "eks:ListClusters",
      "ec2:DescribeInstances",
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]);
    for (const t of [defaults, full]) {
      for (const roleId of ["ApproverRole", "NotifierRole"]) {
        for (const s of statements(t, roleId)) {
          for (const a of actions(s)) {
            expect(a).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
            if (resources(s).includes("*")) expect(starAllowed.has(a), `${a} on *`).toBe(true);
          }
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// Functions and triggers
// ---------------------------------------------------------------------------------------

describe("approver function", () => {
  const approver = () => defaults.Resources.ApproverLambdaFunction!.Properties;

  it("runs on nodejs22.x/arm64 with one concurrent sweep at most", () => {
    expect(approver().Runtime).toBe("nodejs22.x");
    expect(approver().Architectures).toEqual(["arm64"]);
    expect(approver().Handler).toBe("functions/approver.handler");
    expect(approver().ReservedConcurrentExecutions).toBe(1);
    expect(approver().Timeout).toBe(300);
    expect(defaults.Resources.NotifierLambdaFunction!.Properties.Runtime).toBe("nodejs22.x");
    expect(defaults.Resources.NotifierLambdaFunction!.Properties.Architectures).toEqual(["arm64"]);
    // One Slack post at a time: the notifier paces itself within the webhook's rate limit.
    expect(defaults.Resources.NotifierLambdaFunction!.Properties.ReservedConcurrentExecutions).toBe(1);
  });

  it("gets the deployment knobs as environment variables", () => {
    const env = (approver().Environment as { Variables: Json }).Variables;
    expect(env.ALERT_TOPIC_ARN).toEqual({ Ref: "AlertTopic" });
    expect(env.CONFIG_PARAMETER).toBe("/csr-approver/unittest/config");
    expect(typeof env.CONFIG_FILE).toBe("string");
    expect(env.POWERTOOLS_SERVICE_NAME).toBe("csr-approver");
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe("CsrApprover");
    expect(env.POWERTOOLS_LOG_LEVEL).toBe("INFO");
    expect(env.NODE_OPTIONS).toBe("--enable-source-maps");
  });

  it("is triggered every minute and by EC2 instances entering `running`", () => {
    const rules = ofType(defaults, "AWS::Events::Rule").map(([, r]) => r.Properties);
    const targetsApprover = (r: Json) =>
      JSON.stringify(r.Targets).includes('"Fn::GetAtt":["ApproverLambdaFunction","Arn"]');
    const schedule = rules.filter((r) => r.ScheduleExpression !== undefined);
    expect(schedule).toHaveLength(1);
    expect(schedule[0]!.ScheduleExpression).toBe("rate(1 minute)");
    expect(targetsApprover(schedule[0]!)).toBe(true);
    const ec2 = rules.filter((r) => r.EventPattern !== undefined);
    expect(ec2).toHaveLength(1);
    expect(ec2[0]!.EventPattern).toEqual({
      source: ["aws.ec2"],
      "detail-type": ["EC2 Instance State-change Notification"],
      detail: { state: ["running"] },
    });
    expect(targetsApprover(ec2[0]!)).toBe(true);
    const permissions = ofType(defaults, "AWS::Lambda::Permission").filter(
      ([, p]) => p.Properties.Principal === "events.amazonaws.com",
    );
    expect(permissions).toHaveLength(2);
  });

  it("sends failed async invocations to the DLQ, without retrying a failed sweep", () => {
    const configs = Object.fromEntries(ofType(defaults, "AWS::Lambda::EventInvokeConfig"));
    const approverConfig = Object.values(configs).find(
      (c) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: "ApproverLambdaFunction" }),
    );
    expect(approverConfig?.Properties.MaximumRetryAttempts).toBe(0);
    expect(approverConfig?.Properties.DestinationConfig).toEqual({
      OnFailure: { Destination: { "Fn::GetAtt": ["AsyncFailureQueue", "Arn"] } },
    });
    const notifierConfig = Object.values(configs).find(
      (c) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: "NotifierLambdaFunction" }),
    );
    expect(notifierConfig?.Properties.DestinationConfig).toEqual({
      OnFailure: { Destination: { "Fn::GetAtt": ["AsyncFailureQueue", "Arn"] } },
    });
    // An alert that cannot be posted is retried twice, and kept for 6 hours while throttled.
    expect(notifierConfig?.Properties.MaximumRetryAttempts).toBe(2);
    expect(notifierConfig?.Properties.MaximumEventAgeInSeconds).toBe(21600);
    expect(defaults.Resources.AsyncFailureQueue?.Type).toBe("AWS::SQS::Queue");
  });

  it("attaches to the VPC only when subnets and security groups are configured", () => {
    expect(approver().VpcConfig).toBeUndefined();
    expect(full.Resources.ApproverLambdaFunction!.Properties.VpcConfig).toMatchObject({
      SubnetIds: ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
      SecurityGroupIds: ["sg-0123456789abcdef0"],
    });
  });
});

describe("alert topic, notifier subscription and alarms", () => {
  it("subscribes the notifier to the topic only when a webhook is configured", () => {
    expect(ofType(defaults, "AWS::SNS::Subscription")).toEqual([]);
    const subscriptions = ofType(full, "AWS::SNS::Subscription").map(([, s]) => s.Properties);
    expect(subscriptions).toHaveLength(1);
    expect(subscriptions[0]).toMatchObject({ Protocol: "lambda", TopicArn: { Ref: "AlertTopic" } });
    expect(JSON.stringify(subscriptions[0]!.Endpoint)).toContain("NotifierLambdaFunction");
  });

  it("encrypts the topic with the configured key, and lets only the approver role and CloudWatch alarms publish", () => {
    expect(defaults.Resources.AlertTopic!.Properties.KmsMasterKeyId).toBeUndefined();
    expect(full.Resources.AlertTopic!.Properties.KmsMasterKeyId).toBe(FULL_PARAMS.alertTopicKmsKeyArn);
    for (const t of [defaults, full]) {
      const policy = t.Resources.AlertTopicPolicy!.Properties.PolicyDocument as { Statement: Json[] };
      const bySid = Object.fromEntries(policy.Statement.map((s) => [s.Sid, s]));
      const approverRole = { "Fn::GetAtt": ["ApproverRole", "Arn"] };
      const allows = policy.Statement.filter((s) => s.Effect === "Allow");
      expect(allows.map((s) => s.Principal)).toEqual([
        { AWS: approverRole },
        { Service: "cloudwatch.amazonaws.com" },
      ]);
      for (const s of allows) expect(s.Action).toBe("sns:Publish");
      // CloudWatch: alarms of this account and region only.
      expect(bySid.CloudWatchAlarms!.Condition).toEqual({
        StringEquals: { "aws:SourceAccount": sub("${AWS::AccountId}") },
        ArnLike: {
          "aws:SourceArn": sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"),
        },
      });
      // Everyone else is denied Publish, whatever their own IAM policy allows (an explicit
      // deny wins): the deny matches unless the caller is the approver role or CloudWatch.
      expect(bySid.NoOtherPublisher).toEqual({
        Sid: "NoOtherPublisher",
        Effect: "Deny",
        Principal: "*",
        Action: "sns:Publish",
        Resource: { Ref: "AlertTopic" },
        Condition: {
          ArnNotEquals: { "aws:PrincipalArn": approverRole },
          StringNotEquals: { "aws:PrincipalServiceName": "cloudwatch.amazonaws.com" },
        },
      });
      expect(
        policy.Statement.some(
          (s) => s.Effect === "Deny" && JSON.stringify(s).includes("aws:SecureTransport"),
        ),
      ).toBe(true);
      // Nothing but Publish is granted to anyone by the topic policy.
      expect(allows.every((s) => s.Action === "sns:Publish")).toBe(true);
    }
  });

  it("alarms on approver errors, silence, denials, approvals made elsewhere, per-cluster sweep failures, notifier errors and DLQ depth", () => {
    const alarms = Object.fromEntries(
      ofType(defaults, "AWS::CloudWatch::Alarm").map(([id, a]) => [id, a.Properties]),
    );
    expect(Object.keys(alarms).sort()).toEqual(
      [
        "ApproverErrorsAlarm",
        "ApproverNotRunningAlarm",
        "AsyncFailureQueueDepthAlarm",
        "ClusterSweepFailedAlarm",
        "CsrApprovedElsewhereAlarm",
        "CsrDeniedAlarm",
        "NotifierErrorsAlarm",
      ].sort(),
    );
    for (const alarm of Object.values(alarms)) {
      expect(alarm.AlarmActions).toEqual([{ Ref: "AlertTopic" }]);
      expect(alarm.OKActions).toEqual([{ Ref: "AlertTopic" }]);
    }
    expect(alarms.ApproverErrorsAlarm).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: { Ref: "ApproverLambdaFunction" } }],
    });
    expect(alarms.ApproverNotRunningAlarm).toMatchObject({
      MetricName: "Invocations",
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
    });
    const query = (id: string) => (alarms[id]!.Metrics as { Expression: string }[])[0]!.Expression;
    expect(query("CsrDeniedAlarm")).toBe('SELECT SUM(CsrDenied) FROM "CsrApprover"');
    expect(query("CsrApprovedElsewhereAlarm")).toBe(
      'SELECT SUM(CsrApprovedElsewhereViolations) FROM "CsrApprover"',
    );
    expect(query("ClusterSweepFailedAlarm")).toBe(
      'SELECT SUM(ClusterSweepFailed) FROM "CsrApprover" GROUP BY cluster',
    );
    expect(alarms.AsyncFailureQueueDepthAlarm).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": ["AsyncFailureQueue", "QueueName"] } }],
    });
  });
});

// ---------------------------------------------------------------------------------------
// EKS access entries
// ---------------------------------------------------------------------------------------

describe("dashboard", () => {
  it("one dashboard: every metric it graphs is one the approver emits, and it shows every alarm", () => {
    const [[, board] = ["", undefined]] = ofType(defaults, "AWS::CloudWatch::Dashboard");
    expect(board).toBeDefined();
    const body = (board!.Properties.DashboardBody as { "Fn::Sub": string })["Fn::Sub"];
    const parsed = JSON.parse(body) as {
      widgets: { type: string; properties: { metrics?: { expression: string }[][]; alarms?: string[] } }[];
    };
    const queries = parsed.widgets.flatMap((w) => (w.properties.metrics ?? []).map(([m]) => m!.expression));
    const graphed = queries.map((q) => /\((\w+)\)/.exec(q)?.[1] ?? "");
    expect(graphed.length).toBeGreaterThanOrEqual(10);
    const approverSource = readFileSync(path.join(ROOT, "functions", "approver.ts"), "utf8");
    for (const metric of graphed) expect(approverSource, metric).toContain(`"${metric}"`);
    for (const q of queries) expect(q).toContain(`FROM "CsrApprover"`);
    const alarmIds = ofType(defaults, "AWS::CloudWatch::Alarm")
      .map(([id]) => id)
      .sort();
    const shown = parsed.widgets
      .flatMap((w) => w.properties.alarms ?? [])
      .map((a) => /^\$\{(\w+)\.Arn\}$/.exec(a)?.[1] ?? a)
      .sort();
    expect(shown).toEqual(alarmIds);
  });
});

describe("EKS access entries", () => {
  it("none by default", () => {
    expect(ofType(defaults, "AWS::EKS::AccessEntry")).toEqual([]);
  });

  it("one per configured cluster: STANDARD, group csr-approver:approvers, never an access policy", () => {
    const entries = ofType(full, "AWS::EKS::AccessEntry").map(([, e]) => e.Properties);
    expect(entries.map((e) => e.ClusterName).sort()).toEqual(["prod-a", "prod_b"]);
    for (const entry of entries) {
      expect(entry).toEqual({
        ClusterName: entry.ClusterName,
        PrincipalArn: { "Fn::GetAtt": ["ApproverRole", "Arn"] },
        Type: "STANDARD",
        KubernetesGroups: ["csr-approver:approvers"],
      });
    }
    expect(JSON.stringify(full)).not.toMatch(/AccessPolicies|AmazonEKS\w*Policy/);
  });

  it("refuses a cluster name that is not one (it would be pasted into the template)", () => {
    const result = spawnSync(
      process.execPath,
      [
        path.join(ROOT, "scripts", "package.mjs"),
        "--no-size-limit",
        "--package",
        path.join(workDir, "bad"),
        "--param=eksAccessEntryClusters=ok,bad name!",
      ],
      { cwd: ROOT, encoding: "utf8", timeout: 300_000 },
    );
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('"bad name!" is not an EKS cluster name');
  }, 300_000);
});

// ---------------------------------------------------------------------------------------
// Validity and bundles
// ---------------------------------------------------------------------------------------

describe("template validity and bundles", () => {
  it("passes cfn-lint, default and full", () => {
    const { status, output } = lintTemplates([
      path.join(defaultDir, "cloudformation-template-update-stack.json"),
      path.join(fullDir, "cloudformation-template-update-stack.json"),
    ]);
    expect(output).toBe("");
    expect(status).toBe(0);
  }, 600_000);

  it("passes checkov, default, full, StackSet and central topic: every finding is a suppression with its reason, none stale", () => {
    const { findings, unexplained, stale } = checkTemplates([
      path.join(defaultDir, "cloudformation-template-update-stack.json"),
      path.join(fullDir, "cloudformation-template-update-stack.json"),
      path.join(defaultDir, "cloudformation-template-stackset.json"),
      path.join(ROOT, "infra", "org", "central-alerts.yml"),
    ]);
    expect(unexplained).toEqual([]);
    expect(stale).toEqual([]);
    expect(findings.length).toBeGreaterThan(0); // checkov ran its CloudFormation checks
    for (const s of SUPPRESSED) expect(s.why.length, s.check).toBeGreaterThan(20);
    // The full rendering turns on the opt-ins: a KMS key for the topic, a VPC for the approver.
    const full = findings.filter((f) => f.template.includes(fullDir)).map((f) => `${f.check} ${f.resource}`);
    expect(full).not.toContain("CKV_AWS_26 AWS::SNS::Topic.AlertTopic");
  }, 600_000);

  it("bundles each function as one ESM file with its source map, the config file when present", () => {
    for (const fn of ["approver", "notifier"]) {
      const names = [...zipEntrySizes(path.join(defaultDir, `${fn}.zip`)).keys()];
      expect(names).toContain(`functions/${fn}.mjs`);
      expect(names).toContain(`functions/${fn}.mjs.map`);
      expect(names.filter((n) => n.startsWith("node_modules/"))).toEqual([]);
      expect(names.filter((n) => n.startsWith("functions/") && !n.startsWith(`functions/${fn}.`))).toEqual(
        [],
      );
    }
  });

  it("each bundle loads as an ES module on Node 22 and exports its handler", () => {
    for (const fn of ["approver", "notifier"]) {
      const dir = path.join(workDir, "load", fn);
      mkdirSync(path.join(dir, "functions"), { recursive: true });
      writeFileSync(
        path.join(dir, "functions", `${fn}.mjs`),
        readZipEntry(path.join(defaultDir, `${fn}.zip`), `functions/${fn}.mjs`),
      );
      // A fresh process, as Lambda would start one: module-level code runs, nothing is invoked.
      const probe = `const m = await import(${JSON.stringify(path.join(dir, "functions", `${fn}.mjs`))}); console.log(typeof m.handler);`;
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", probe], {
        encoding: "utf8",
        timeout: 60_000,
        env: { PATH: process.env.PATH, AWS_REGION: "eu-west-1", AWS_EC2_METADATA_DISABLED: "true" },
      });
      expect(result.stderr).toBe("");
      expect(result.stdout.trim()).toBe("function");
    }
  });

  it("keeps the approver bundle under its 1.5 MB budget", () => {
    const sizes = bundleSizes(defaultDir);
    expect(sizes.notifier).toBeGreaterThan(0);
    expect(sizes.approver, "approver bundle bytes (see npm run package)").toBeLessThanOrEqual(
      APPROVER_BUNDLE_BUDGET_BYTES,
    );
  });

  it("the size check fails above the budget and names the function", () => {
    const over = checkBundleSizes({ approver: 1_600_000, notifier: 10 }, 1_500_000);
    expect(over.ok).toBe(false);
    expect(over.lines[0]).toMatch(/approver bundle 1\.600 MB .*OVER the 1\.5 MB budget/);
    expect(checkBundleSizes({ approver: 1_400_000, notifier: 10 }, 1_500_000).ok).toBe(true);
    expect(checkBundleSizes({ approver: undefined }, 1_500_000).ok).toBe(false);
  });
});

describe("infra manifests", () => {
  it("the self-managed token manifest only binds the csr-approver ClusterRole to its ServiceAccount", () => {
    const docs = parseAllDocuments(
      readFileSync(path.join(ROOT, "infra", "self-managed-token.yaml"), "utf8"),
    ).map((d) => d.toJS() as Json & { kind: string; metadata: Json });
    expect(docs.map((d) => d.kind)).toEqual(["Namespace", "ServiceAccount", "Secret", "ClusterRoleBinding"]);
    const binding = docs[3]!;
    expect(binding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "csr-approver",
    });
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "approver", namespace: "csr-approver" },
    ]);
    expect(docs[2]!.type).toBe("kubernetes.io/service-account-token");
    expect(docs[1]!.automountServiceAccountToken).toBe(false);
    // The role itself is infra/rbac.yaml's; this file must not define or widen one.
    const rbac = parseAllDocuments(readFileSync(path.join(ROOT, "infra", "rbac.yaml"), "utf8")).map(
      (d) => d.toJS() as Json & { kind: string; metadata: { name: string } },
    );
    expect(rbac.some((d) => d.kind === "ClusterRole" && d.metadata.name === "csr-approver")).toBe(true);
  });
});
