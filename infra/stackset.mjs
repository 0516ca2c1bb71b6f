// The StackSet template (docs/organizations.md): the per-account template that osls renders,
// made portable so that one CloudFormation StackSet can deploy it to every account and
// region of an organization. `npm run package -- --stackset` writes it beside the zips.
//
// What changes against the per-account template, and why:
// - the function code comes from S3 location parameters: a bucket per region (Lambda reads
//   code only from a bucket in its own region), `<ArtifactBucketPrefix>-<region>`, and a
//   content-addressed key per zip, so that a new build is a new key and UpdateStackSet
//   updates the code;
// - the framework's deployment bucket is gone (StackSets upload nothing);
// - account-specific values are parameters: the configuration parameter's name (and, when
//   given, the document the stack writes there: dry-run by default, enforce per account), the EKS
//   clusters whose access entry maps the approver role, the central alert topic (and its KMS
//   key); everything else is built from pseudo-parameters (AWS::AccountId, AWS::Region,
//   AWS::Partition) with Fn::Sub;
// - the approver role has a fixed name per stage and region, so that the central topic's
//   policy can name the approvers of the whole organization (aws:PrincipalOrgID plus the
//   role name) and nobody else in a member account;
// - the Slack notifier is not deployed: Slack listens to the central topic, in one account.
//   The local topic stays, for the account's own alarms.
//
// Pure: template in, template out. assertPortable() is the gate that no account ID, region or
// literal ARN made it in (a `--param` that bakes one, e.g. eksRegions, fails the build).
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const HERE = path.dirname(fileURLToPath(import.meta.url));
// The approver role's name, `csr-approver-<stage>-approver-<region>`: one definition, shared
// with the per-account template's central-topic option.
const { approverRoleName } = createRequire(import.meta.url)("./resources.cjs");
/** File name of the StackSet template, beside the zips. */
export const STACKSET_TEMPLATE_FILE = "cloudformation-template-stackset.json";
/** EKS access entries the template can create per stack instance (CloudFormation has no loops). */
export const MAX_ACCESS_ENTRY_CLUSTERS = 8;

const FUNCTIONS_KEPT = ["approver"];
// The notifier and everything that exists only for it.
const NOTIFIER_RESOURCES = [
  "NotifierLambdaFunction",
  "NotifierLambdaEvConf",
  "NotifierLogGroup",
  "NotifierRole",
  "NotifierErrorsAlarm",
];
const FRAMEWORK_RESOURCES = ["ServerlessDeploymentBucket", "ServerlessDeploymentBucketPolicy"];

/** A new account starts in dry-run: enforce is a decision per account (docs/organizations.md). */
export const DRY_RUN_DOCUMENT = '{"defaults":{"mode":"dry-run"}}';
const CLUSTER_NAME = "[0-9A-Za-z][A-Za-z0-9_-]{0,99}";
const PARAMETERS = (stage, zipKeys) => ({
  ArtifactBucketPrefix: {
    Type: "String",
    Description:
      "Function code bucket per region: <prefix>-<region> (e.g. my-org-csr-approver-artifacts-eu-west-1), readable by the organization",
    AllowedPattern: "^[a-z0-9][a-z0-9.-]{1,40}$",
  },
  ApproverCodeKey: {
    Type: "String",
    Description: "S3 key of approver.zip in each region's bucket (content-addressed: a new build, a new key)",
    Default: zipKeys.approver,
    AllowedPattern: "^[A-Za-z0-9!_.*'()/-]{1,1024}$",
  },
  ConfigParameterName: {
    Type: "String",
    Description: "SSM parameter holding the configuration document, in each account and region",
    Default: `/csr-approver/${stage}/config`,
    AllowedPattern: "^/[A-Za-z0-9_.\\-/]{1,1010}$",
  },
  ConfigDocument: {
    Type: "String",
    Description:
      "The configuration document (YAML or JSON) the stack writes to ConfigParameterName (empty: the parameter is managed outside the stack). Default: dry-run everywhere; override per account to enforce.",
    Default: DRY_RUN_DOCUMENT,
    MaxLength: 4096,
  },
  CentralAlertTopicArn: {
    Type: "String",
    Description:
      "SNS topic in the central account the approver publishes its alerts to (empty: the local topic). Alarms stay on the local topic.",
    Default: "",
    AllowedPattern: "^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
  },
  CentralAlertTopicKmsKeyArn: {
    Type: "String",
    Description: "KMS key of the central topic when it is encrypted (empty: unencrypted or SNS default)",
    Default: "",
    AllowedPattern: "^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
  },
  EksAccessEntryClusters: {
    Type: "String",
    Description: `EKS clusters of the stack's region whose access entry maps the approver role to csr-approver:approvers (comma-separated, at most ${MAX_ACCESS_ENTRY_CLUSTERS})`,
    Default: "",
    AllowedPattern: `^$|^${CLUSTER_NAME}(,${CLUSTER_NAME}){0,${MAX_ACCESS_ENTRY_CLUSTERS - 1}}$`,
  },
});

const sub = (text) => ({ "Fn::Sub": text });
const ref = (id) => ({ Ref: id });
const NO_VALUE = ref("AWS::NoValue");

/** The i-th name of EksAccessEntryClusters, "" past the end (padding keeps Fn::Select in range). */
function nthCluster(i) {
  const padding = ",".repeat(MAX_ACCESS_ENTRY_CLUSTERS);
  return { "Fn::Select": [i, { "Fn::Split": [",", sub(`\${EksAccessEntryClusters}${padding}`)] }] };
}

function conditions() {
  const notEmpty = (value) => ({ "Fn::Not": [{ "Fn::Equals": [value, ""] }] });
  const result = {
    HasConfigDocument: notEmpty(ref("ConfigDocument")),
    HasCentralTopic: notEmpty(ref("CentralAlertTopicArn")),
    HasCentralTopicKey: {
      "Fn::And": [{ Condition: "HasCentralTopic" }, notEmpty(ref("CentralAlertTopicKmsKeyArn"))],
    },
  };
  for (let i = 0; i < MAX_ACCESS_ENTRY_CLUSTERS; i++) result[`HasAccessEntry${i}`] = notEmpty(nthCluster(i));
  return result;
}

/** Every Ref / GetAtt / ${X} in a value: the logical IDs it depends on. */
export function referencedIds(value) {
  const ids = new Set();
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v === "string") {
      for (const m of v.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}/g)) ids.add(m[1]);
      return;
    }
    if (v === null || typeof v !== "object") return;
    for (const [key, inner] of Object.entries(v)) {
      if (key === "Fn::Sub" && Array.isArray(inner)) {
        // [text, variables]: the variables are local names, not logical IDs.
        const local = new Set(Object.keys(inner[1] ?? {}));
        for (const id of referencedIds(inner[0])) if (!local.has(id)) ids.add(id);
        walk(inner[1]);
        continue;
      }
      if (key === "Ref" && typeof inner === "string") ids.add(inner);
      else if (key === "Fn::GetAtt") ids.add(Array.isArray(inner) ? inner[0] : String(inner).split(".")[0]);
      else if (key === "Condition" && typeof inner === "string") ids.add(inner);
      walk(inner);
    }
  };
  walk(value);
  return ids;
}

function statementBySid(role, policyName, sid) {
  const policy = role.Properties.Policies.find((p) => p.PolicyName === policyName);
  const statement = policy?.PolicyDocument.Statement.find((s) => s.Sid === sid);
  if (!statement) throw new Error(`stackset: the approver role has no ${policyName}/${sid} statement`);
  return { policy, statement };
}

function accessEntry(i) {
  const entry = YAML.parse(
    readFileSync(path.join(HERE, "eks-access-entry.yml"), "utf8").replaceAll("__CLUSTER_NAME__", "x"),
  );
  entry.Condition = `HasAccessEntry${i}`;
  entry.Properties.ClusterName = nthCluster(i);
  return entry;
}

/** SHA-256 prefix of a zip: its key in the artifact buckets. */
export function contentKey(stage, name, bytes) {
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  return `csr-approver/${stage}/${digest}/${name}.zip`;
}

/**
 * The StackSet template from the per-account template (rendered with the default params).
 * `zipKeys.approver`: the default S3 key of approver.zip.
 */
export function stackSetTemplate(template, { stage, zipKeys }) {
  if (!/^[a-z0-9-]{1,24}$/.test(stage)) {
    throw new Error(`stackset: stage "${stage}" must be 1-24 lowercase letters, digits or hyphens`);
  }
  const out = structuredClone(template);
  out.Description = `csr-approver (stage ${stage}) for every account of an organization: CloudFormation StackSet template, see docs/organizations.md`;
  out.Parameters = PARAMETERS(stage, zipKeys);
  out.Conditions = conditions();
  const resources = out.Resources;
  for (const id of [...FRAMEWORK_RESOURCES, ...NOTIFIER_RESOURCES]) delete resources[id];
  if (out.Outputs) delete out.Outputs.ServerlessDeploymentBucketName;
  for (const id of Object.keys(resources)) {
    if (resources[id].Type === "AWS::EKS::AccessEntry") delete resources[id];
  }

  // Function code: from the region's artifact bucket.
  for (const fn of FUNCTIONS_KEPT) {
    const key = fn[0].toUpperCase() + fn.slice(1);
    const props = resources[`${key}LambdaFunction`].Properties;
    props.Code = { S3Bucket: sub("${ArtifactBucketPrefix}-${AWS::Region}"), S3Key: ref(`${key}CodeKey`) };
  }

  // The approver: configuration parameter and alert topic.
  const approver = resources.ApproverLambdaFunction.Properties;
  approver.Environment.Variables.CONFIG_PARAMETER = ref("ConfigParameterName");
  approver.Environment.Variables.ALERT_TOPIC_ARN = {
    "Fn::If": ["HasCentralTopic", ref("CentralAlertTopicArn"), ref("AlertTopic")],
  };

  const role = resources.ApproverRole;
  role.Properties.RoleName = approverRoleName(stage);
  const { statement: configStatement } = statementBySid(role, "sweep", "ConfigAndCredentialParameters");
  configStatement.Resource = [
    sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}"),
  ];
  const { policy: sweep, statement: publish } = statementBySid(role, "sweep", "PublishAlerts");
  // Publish on the topic it publishes to, that one only (SPEC §9).
  publish.Resource = [{ "Fn::If": ["HasCentralTopic", ref("CentralAlertTopicArn"), ref("AlertTopic")] }];
  // An encrypted central topic: the data key of its key, only through SNS in the topic's region.
  const topicRegion = { "Fn::Select": [3, { "Fn::Split": [":", ref("CentralAlertTopicArn")] }] };
  sweep.PolicyDocument.Statement.push({
    "Fn::If": [
      "HasCentralTopicKey",
      {
        Sid: "CentralTopicKey",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey", "kms:Decrypt"],
        Resource: [ref("CentralAlertTopicKmsKeyArn")],
        Condition: {
          StringEquals: {
            "kms:ViaService": sub(["sns.${TopicRegion}.${AWS::URLSuffix}", { TopicRegion: topicRegion }]),
          },
        },
      },
      NO_VALUE,
    ],
  });

  for (let i = 0; i < MAX_ACCESS_ENTRY_CLUSTERS; i++) {
    resources[`ApproverAccessEntry${i}`] = accessEntry(i);
  }
  // The configuration document, when the StackSet carries it: the org-wide value, and a
  // per-account override (UpdateStackInstances --parameter-overrides) to switch to enforce.
  resources.ConfigParameter = {
    Type: "AWS::SSM::Parameter",
    Condition: "HasConfigDocument",
    Properties: {
      Name: ref("ConfigParameterName"),
      Type: "String",
      Value: ref("ConfigDocument"),
      Description: "csr-approver configuration (docs/configuration.md), written by the StackSet",
    },
  };

  // The dashboard's alarm widget lists the alarms by ARN: drop the ones removed above.
  for (const [, resource] of Object.entries(resources)) {
    if (resource.Type !== "AWS::CloudWatch::Dashboard") continue;
    const body = JSON.parse(resource.Properties.DashboardBody["Fn::Sub"]);
    for (const widget of body.widgets) {
      if (Array.isArray(widget.properties?.alarms)) {
        widget.properties.alarms = widget.properties.alarms.filter(
          (a) => ![...referencedIds(a)].some((id) => NOTIFIER_RESOURCES.includes(id)),
        );
      }
    }
    resource.Properties.DashboardBody = sub(JSON.stringify(body));
  }

  // Nothing may still point at a removed resource.
  const defined = new Set([
    ...Object.keys(resources),
    ...Object.keys(out.Parameters),
    ...Object.keys(out.Conditions),
  ]);
  for (const [id, resource] of Object.entries(resources)) {
    for (const dep of [resource.DependsOn ?? []].flat()) {
      if (!defined.has(dep)) throw new Error(`stackset: ${id} depends on removed ${dep}`);
    }
    for (const used of referencedIds(resource)) {
      if (!used.startsWith("AWS::") && !defined.has(used))
        throw new Error(`stackset: ${id} refers to removed ${used}`);
    }
  }
  assertPortable(out);
  return out;
}

const ACCOUNT_ID = /(?<![0-9])[0-9]{12}(?![0-9])/;
const REGION =
  /\b(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-(?:north|south|east|west|central|northeast|southeast|northwest|southwest)-[0-9]{1,2})\b/;
const LITERAL_ARN = /arn:aws/;

/**
 * Every string of the template outside Parameters (allowed patterns and defaults describe
 * what the operator passes in): no 12-digit account ID, no region name, no ARN with a literal
 * partition. Throws naming the first offender's path.
 */
export function assertPortable(template) {
  const walk = (value, where) => {
    if (typeof value === "string") {
      for (const [what, pattern] of [
        ["an account ID", ACCOUNT_ID],
        ["a region", REGION],
        ["a literal ARN", LITERAL_ARN],
      ]) {
        const match = pattern.exec(value);
        if (match) throw new Error(`stackset: ${where} holds ${what} ("${match[0]}"): not portable`);
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(v, `${where}.${k}`);
    }
  };
  for (const [section, value] of Object.entries(template)) {
    if (section !== "Parameters") walk(value, section);
  }
}
