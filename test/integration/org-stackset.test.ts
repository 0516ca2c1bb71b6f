// The organization rollout of docs/organizations.md against moto (server mode): the
// Organizations set-up (trusted access, delegated administrator, an OU with two accounts), the
// artifact bucket, then the StackSet operations the guide uses — CreateStackSet
// (service-managed, auto-deployment), CreateStackInstances to the OU, UpdateStackSet,
// UpdateStackInstances (the per-account switch to enforce), DeleteStackInstances,
// DeleteStackSet — with what each leaves in the member accounts, read there through the
// OrganizationAccountAccessRole. Also: the approver's alert reaching a central topic in
// another region, with account, region and cluster in the Slack rendering.
//
// What moto cannot check is said in docs/organizations.md ("What the tests check"): it has no
// CloudFormation support for AWS::CloudWatch::Alarm (so the alarms and the dashboard that
// lists them are left out of the template deployed here, by type, below), nor for
// AWS::SNS::TopicPolicy, AWS::Lambda::EventInvokeConfig or AWS::EKS::AccessEntry (skipped
// with a warning); it ignores AutoDeployment, CallAs and OperationPreferences, does not check
// that the code object exists, and applies parameter updates to the instances' records, not
// to their resources.
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CreateTopicCommand, SubscribeCommand } from "@aws-sdk/client-sns";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../functions/core/config.js";
import { renderSlackMessage } from "../../functions/notify/blocks.js";
import { createAwsClients, type AwsClientCache } from "../../functions/sweep/aws.js";
import { snsAlertPublisher, topicRegion } from "../../functions/sweep/publish.js";
import { DRY_RUN_DOCUMENT, STACKSET_TEMPLATE_FILE } from "../../infra/stackset.mjs";
import { rig } from "../rig/context.js";
import { MiniSqs } from "../rig/sqs.js";
import {
  AwsCallError,
  SignedAws,
  cfnParameters,
  members,
  xmlValues,
  type SignedAwsConfig,
} from "../rig/aws-http.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const MOTO = rig().moto.endpoint;
const CREDS = rig().moto.credentials;
const REGION = "us-east-1";
const CFN = "2010-05-15";
const IAM = "2010-05-08";
const ORGS = "AWSOrganizationsV20161128";
const STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com";
const STAGE = "orgit";
const FUNCTION = `csr-approver-${STAGE}-approver`;
const ROLE = `csr-approver-${STAGE}-approver-${REGION}`;
/** Resource types moto's CloudFormation cannot create and that others refer to: left out. */
const MOTO_CANNOT_CREATE = ["AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"];
const ENFORCE_DOCUMENT = '{"defaults":{"mode":"enforce"}}';

const suffix = randomBytes(4).toString("hex");
const stackSetName = `csr-approver-${suffix}`;
const bucketPrefix = `org-artifacts-${suffix}`;

let workDir: string;
let template: {
  Parameters: Record<string, { Default?: string }>;
  Resources: Record<string, { Type: string }>;
};
let motoTemplate: string;
let zip: Buffer;
let management: SignedAws;
let ou: string;
let teamAccounts: string[];
let outsideAccount: string;
let centralTopicArn: string;
let aws: AwsClientCache;

const config = (credentials: SignedAwsConfig["credentials"]): SignedAwsConfig => ({
  endpoint: MOTO,
  region: REGION,
  credentials,
});

/** Credentials in a member account, as an administrator would get them (docs step 6). */
async function memberCredentials(account: string): Promise<SignedAwsConfig["credentials"]> {
  const sts = new STSClient({ endpoint: MOTO, region: REGION, credentials: CREDS });
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account}:role/OrganizationAccountAccessRole`,
      RoleSessionName: "org-check",
    }),
  );
  sts.destroy();
  const c = out.Credentials!;
  return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
}

interface LambdaConfiguration {
  FunctionName: string;
  Role: string;
  Environment: { Variables: Record<string, string> };
}

/** The approver function in an account, or undefined when there is none. */
async function approverIn(account: string): Promise<LambdaConfiguration | undefined> {
  const member = new SignedAws(config(await memberCredentials(account)));
  try {
    const text = await member.request("lambda", { method: "GET", path: `/2015-03-31/functions/${FUNCTION}` });
    return (JSON.parse(text) as { Configuration: LambdaConfiguration }).Configuration;
  } catch (error) {
    if (error instanceof AwsCallError && error.status === 404) return undefined;
    throw error;
  }
}

async function configDocumentIn(account: string): Promise<string | undefined> {
  const ssm = new SSMClient({
    endpoint: MOTO,
    region: REGION,
    credentials: await memberCredentials(account),
  });
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: `/csr-approver/${STAGE}/config` }));
    return out.Parameter?.Value;
  } catch (error) {
    if ((error as Error).name === "ParameterNotFound") return undefined;
    throw error;
  }
}

function orgs<T = unknown>(action: string, input: unknown): Promise<T> {
  return management.json<T>("organizations", `${ORGS}.${action}`, input);
}

async function cfn(action: string, params: Record<string, string>): Promise<string> {
  return management.query("cloudformation", CFN, action, params);
}

async function operationStatus(operationId: string): Promise<string | undefined> {
  const xml = await cfn("DescribeStackSetOperation", {
    StackSetName: stackSetName,
    OperationId: operationId,
  });
  return xmlValues(xml, "Status")[0];
}

async function instanceAccounts(): Promise<string[]> {
  const xml = await cfn("ListStackInstances", { StackSetName: stackSetName });
  return xmlValues(xml, "Account").sort();
}

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), "csr-approver-org-"));
  const out = path.join(workDir, "out");
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, "scripts", "package.mjs"),
      "--no-size-limit",
      "--stackset",
      "--stage",
      STAGE,
      "--package",
      out,
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 },
  );
  if (result.status !== 0) throw new Error(`package --stackset failed:\n${result.stdout}\n${result.stderr}`);
  template = JSON.parse(readFileSync(path.join(out, STACKSET_TEMPLATE_FILE), "utf8")) as typeof template;
  const deployable = structuredClone(template);
  for (const [id, resource] of Object.entries(deployable.Resources)) {
    if (MOTO_CANNOT_CREATE.includes(resource.Type)) delete deployable.Resources[id];
  }
  motoTemplate = JSON.stringify(deployable);
  zip = readFileSync(path.join(out, "approver.zip"));
  aws = createAwsClients({ endpoint: MOTO, credentials: CREDS, maxAttempts: 2 });

  // Step 1 (management account): the organization, trusted access for StackSets, a delegated
  // administrator, and an OU with the team accounts. moto is shared by the whole run: the
  // organization may exist already.
  management = new SignedAws(config(CREDS));
  try {
    await orgs("CreateOrganization", { FeatureSet: "ALL" });
  } catch (error) {
    if (!(error instanceof AwsCallError && error.body.includes("AlreadyInOrganization"))) throw error;
  }
  const { Roots } = await orgs<{ Roots: { Id: string }[] }>("ListRoots", {});
  const root = Roots[0]!.Id;
  const createAccount = async (name: string): Promise<string> => {
    const { CreateAccountStatus } = await orgs<{ CreateAccountStatus: { AccountId: string } }>(
      "CreateAccount",
      { AccountName: `${name}-${suffix}`, Email: `${name}-${suffix}@example.com` },
    );
    return CreateAccountStatus.AccountId;
  };
  const { OrganizationalUnit } = await orgs<{ OrganizationalUnit: { Id: string } }>(
    "CreateOrganizationalUnit",
    { ParentId: root, Name: `kubernetes-${suffix}` },
  );
  ou = OrganizationalUnit.Id;
  teamAccounts = [await createAccount("team-a"), await createAccount("team-b")].sort();
  for (const account of teamAccounts) {
    await orgs("MoveAccount", {
      AccountId: account,
      SourceParentId: root,
      DestinationParentId: ou,
    });
  }
  outsideAccount = await createAccount("outside");
  const platform = await createAccount("platform");
  await orgs("EnableAWSServiceAccess", { ServicePrincipal: STACKSETS_PRINCIPAL });
  const { EnabledServicePrincipals } = await orgs<{
    EnabledServicePrincipals: { ServicePrincipal: string }[];
  }>("ListAWSServiceAccessForOrganization", {});
  expect(EnabledServicePrincipals.map((p) => p.ServicePrincipal)).toContain(STACKSETS_PRINCIPAL);
  // moto cannot register a delegated administrator for StackSets (its list of services that
  // support one lacks it): the guide's step 1b is not checked here, and the StackSet calls
  // below run as the management account (CallAs SELF). Should moto learn it, this fails and
  // the guide's "What the tests check" must be updated.
  await expect(
    orgs("RegisterDelegatedAdministrator", { AccountId: platform, ServicePrincipal: STACKSETS_PRINCIPAL }),
  ).rejects.toThrow(/unrecognized service principal/);

  // Step 2: the artifact bucket of the region, readable by the organization, and the zip
  // under the key the template's ApproverCodeKey names.
  const { Organization } = await orgs<{ Organization: { Id: string } }>("DescribeOrganization", {});
  const bucket = `${bucketPrefix}-${REGION}`;
  await management.request("s3", { method: "PUT", path: `/${bucket}` });
  await management.request("s3", {
    method: "PUT",
    path: `/${bucket}?policy`,
    body: JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "OrganizationReadsCode",
          Effect: "Allow",
          Principal: "*",
          Action: ["s3:GetObject", "s3:GetObjectVersion"],
          Resource: `arn:aws:s3:::${bucket}/csr-approver/*`,
          Condition: { StringEquals: { "aws:PrincipalOrgID": Organization.Id } },
        },
      ],
    }),
  });
  await management.request("s3", {
    method: "PUT",
    path: `/${bucket}/${template.Parameters.ApproverCodeKey!.Default}`,
    body: zip,
    headers: { "content-type": "application/zip" },
  });

  // Step 3: the central topic, in another region than the member stacks.
  const sns = aws.forRegion("eu-west-1").sns;
  centralTopicArn = (await sns.send(new CreateTopicCommand({ Name: `csr-approver-org-${suffix}` })))
    .TopicArn!;
}, 600_000);

afterAll(() => {
  aws?.destroy();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe("StackSet rollout (moto)", () => {
  it("CreateStackSet: service-managed, auto-deployment, the org-wide parameters", async () => {
    await cfn("CreateStackSet", {
      StackSetName: stackSetName,
      TemplateBody: motoTemplate,
      PermissionModel: "SERVICE_MANAGED",
      "AutoDeployment.Enabled": "true",
      "AutoDeployment.RetainStacksOnAccountRemoval": "false",
      CallAs: "SELF",
      ...members("Capabilities", ["CAPABILITY_NAMED_IAM"]),
      // Every parameter, as the guide does: only those can be overridden per account.
      ...cfnParameters({
        ArtifactBucketPrefix: bucketPrefix,
        ApproverCodeKey: template.Parameters.ApproverCodeKey!.Default!,
        ConfigParameterName: `/csr-approver/${STAGE}/config`,
        ConfigDocument: DRY_RUN_DOCUMENT,
        CentralAlertTopicArn: centralTopicArn,
        CentralAlertTopicKmsKeyArn: "",
        EksAccessEntryClusters: "",
      }),
    });
    const xml = await cfn("DescribeStackSet", { StackSetName: stackSetName });
    expect(xmlValues(xml, "PermissionModel")).toEqual(["SERVICE_MANAGED"]);
    expect(xmlValues(xml, "Status")).toEqual(["ACTIVE"]);
  });

  it("CreateStackInstances to the OU: the approver in every account of the OU, dry-run, publishing to the central topic", async () => {
    const xml = await cfn("CreateStackInstances", {
      StackSetName: stackSetName,
      ...members("DeploymentTargets.OrganizationalUnitIds", [ou]),
      ...members("Regions", [REGION]),
      "OperationPreferences.MaxConcurrentPercentage": "25",
      "OperationPreferences.FailureTolerancePercentage": "0",
    });
    const [operationId] = xmlValues(xml, "OperationId");
    expect(await operationStatus(operationId!)).toBe("SUCCEEDED");
    expect(await instanceAccounts()).toEqual(teamAccounts);

    for (const account of teamAccounts) {
      const fn = await approverIn(account);
      expect(fn, account).toBeDefined();
      // Resolved in the member account: its own role, the parameters' values.
      expect(fn!.Role).toBe(`arn:aws:iam::${account}:role/${ROLE}`);
      expect(fn!.Environment.Variables.ALERT_TOPIC_ARN).toBe(centralTopicArn);
      expect(fn!.Environment.Variables.CONFIG_PARAMETER).toBe(`/csr-approver/${STAGE}/config`);
      // The configuration the stack wrote: the org-wide default, dry-run, and a valid document.
      const document = await configDocumentIn(account);
      expect(document).toBe(DRY_RUN_DOCUMENT);
      expect(parseConfig(parseYaml(document!)).defaults.mode).toBe("dry-run");
      // The role's sweep policy names this account's parameter and the central topic.
      const member = new SignedAws(config(await memberCredentials(account)));
      const policy = await member.query("iam", IAM, "GetRolePolicy", { RoleName: ROLE, PolicyName: "sweep" });
      const text = decodeURIComponent(xmlValues(policy, "PolicyDocument")[0] ?? "");
      expect(text).toContain(`arn:aws:ssm:${REGION}:${account}:parameter/csr-approver/${STAGE}/config`);
      expect(text).toContain(centralTopicArn);
      // Publish on the topic it publishes to only: not on the local one.
      expect(text).not.toContain(`arn:aws:sns:${REGION}:${account}:`);
      expect(text).toContain(`arn:aws:eks:${REGION}:${account}:cluster/*`);
    }
    // Nothing outside the OU.
    expect(await approverIn(outsideAccount)).toBeUndefined();
  });

  it("UpdateStackInstances: one account switches to enforce (a parameter override)", async () => {
    // The guide targets the account with DeploymentTargets (its OU, Accounts, INTERSECTION);
    // moto reads the plain Accounts list, so both are sent.
    const xml = await cfn("UpdateStackInstances", {
      StackSetName: stackSetName,
      ...members("Accounts", [teamAccounts[0]!]),
      ...members("DeploymentTargets.OrganizationalUnitIds", [ou]),
      ...members("DeploymentTargets.Accounts", [teamAccounts[0]!]),
      "DeploymentTargets.AccountFilterType": "INTERSECTION",
      ...members("Regions", [REGION]),
      ...cfnParameters({ ConfigDocument: ENFORCE_DOCUMENT }, "ParameterOverrides"),
    });
    const [operationId] = xmlValues(xml, "OperationId");
    expect(await operationStatus(operationId!)).toBe("SUCCEEDED");
    expect(parseConfig(parseYaml(ENFORCE_DOCUMENT)).defaults.mode).toBe("enforce");
    const instance = await cfn("DescribeStackInstance", {
      StackSetName: stackSetName,
      StackInstanceAccount: teamAccounts[0]!,
      StackInstanceRegion: REGION,
    });
    expect(xmlValues(instance, "ParameterValue")).toContain(ENFORCE_DOCUMENT);
  });

  it("UpdateStackSet: a new build (ApproverCodeKey), every other parameter kept", async () => {
    const newKey = template.Parameters.ApproverCodeKey!.Default!.replace(
      /\/[0-9a-f]{16}\//,
      "/0123456789abcdef/",
    );
    await management.request("s3", {
      method: "PUT",
      path: `/${bucketPrefix}-${REGION}/${newKey}`,
      body: zip,
    });
    // OperationId: the idempotency token the CLI and SDKs fill in themselves.
    const xml = await cfn("UpdateStackSet", {
      StackSetName: stackSetName,
      OperationId: randomUUID(),
      TemplateBody: motoTemplate,
      ...members("Capabilities", ["CAPABILITY_NAMED_IAM"]),
      "Parameters.member.1.ParameterKey": "ApproverCodeKey",
      "Parameters.member.1.ParameterValue": newKey,
      ...Object.fromEntries(
        [
          "ArtifactBucketPrefix",
          "ConfigParameterName",
          "ConfigDocument",
          "CentralAlertTopicArn",
          "CentralAlertTopicKmsKeyArn",
          "EksAccessEntryClusters",
        ].flatMap((key, i) => [
          [`Parameters.member.${i + 2}.ParameterKey`, key],
          [`Parameters.member.${i + 2}.UsePreviousValue`, "true"],
        ]),
      ),
    });
    const [operationId] = xmlValues(xml, "OperationId");
    expect(await operationStatus(operationId!)).toBe("SUCCEEDED");
    const described = await cfn("DescribeStackSet", { StackSetName: stackSetName });
    const keys = xmlValues(described, "ParameterKey");
    const values = xmlValues(described, "ParameterValue");
    const parameters = Object.fromEntries(keys.map((k, i) => [k, values[i]]));
    expect(parameters).toMatchObject({
      ApproverCodeKey: newKey,
      ArtifactBucketPrefix: bucketPrefix,
      CentralAlertTopicArn: centralTopicArn,
      ConfigDocument: DRY_RUN_DOCUMENT,
    });
  });

  it("DeleteStackSet refuses while instances remain; DeleteStackInstances removes the approver from the accounts; then DeleteStackSet", async () => {
    await expect(cfn("DeleteStackSet", { StackSetName: stackSetName })).rejects.toThrow(/StackSetNotEmpty/);
    // The guide targets the OU (DeploymentTargets); moto reads the plain Accounts list.
    await cfn("DeleteStackInstances", {
      StackSetName: stackSetName,
      ...members("Accounts", teamAccounts),
      ...members("DeploymentTargets.OrganizationalUnitIds", [ou]),
      ...members("Regions", [REGION]),
      RetainStacks: "false",
    });
    expect(await instanceAccounts()).toEqual([]);
    for (const account of teamAccounts) {
      expect(await approverIn(account), account).toBeUndefined();
      expect(await configDocumentIn(account), account).toBeUndefined();
    }
    await cfn("DeleteStackSet", { StackSetName: stackSetName });
    await expect(cfn("DescribeStackSet", { StackSetName: stackSetName })).rejects.toThrow(/StackSetNotFound/);
  });
});

describe("central topic in another region (moto)", () => {
  it("the approver's publisher reaches it at its own region, and Slack shows account, region and cluster", async () => {
    expect(topicRegion(centralTopicArn)).toBe("eu-west-1");
    const sqs = new MiniSqs({ endpoint: MOTO, region: "eu-west-1", credentials: CREDS });
    const { queueUrl, queueArn } = await sqs.createQueue(`org-central-${suffix}`);
    await aws
      .forRegion("eu-west-1")
      .sns.send(new SubscribeCommand({ TopicArn: centralTopicArn, Protocol: "sqs", Endpoint: queueArn }));

    // The client of the approver's own region cannot publish to it: the topic is not there.
    const wrongRegion = snsAlertPublisher({
      topicArn: centralTopicArn,
      sns: aws.forRegion(REGION).sns,
      account: teamAccounts[0]!,
    });
    const cluster = { name: "prod-a", kind: "eks" as const, region: REGION, vpcIds: ["vpc-1"] };
    const floodGuard = { cluster, approved: 3, held: 2, limit: 3, now: new Date(), dryRun: true };
    await expect(wrongRegion.publishFloodGuard(floodGuard)).rejects.toThrow();

    const publisher = snsAlertPublisher({
      topicArn: centralTopicArn,
      sns: aws.forRegion(topicRegion(centralTopicArn)!).sns,
      account: teamAccounts[0]!,
    });
    await publisher.publishFloodGuard(floodGuard);
    let received: { Body: string }[] = [];
    for (let i = 0; i < 5 && received.length === 0; i++) received = await sqs.receive(queueUrl, 10, 1);
    expect(received).toHaveLength(1);
    const message = (JSON.parse(received[0]!.Body) as { Message: string }).Message;
    const slack = JSON.stringify(renderSlackMessage(message).blocks);
    expect(slack).toContain(teamAccounts[0]!);
    expect(slack).toContain(REGION);
    expect(slack).toContain("prod-a");
  });
});
