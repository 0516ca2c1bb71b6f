// CloudFormation resources of the stack, computed from the stage's params at package time.
// osls loads this through `${file(./infra/resources.cjs):<export>}`. It is CommonJS because
// osls `require()`s variable files, and JavaScript because CloudFormation has no loops or
// conditional list items: one access entry per cluster and only the IAM statements whose
// resources are configured (IAM rejects a statement with an empty Resource list).
//
// Nothing here talks to AWS: the template it produces is the same offline and at deploy.
"use strict";
/* eslint-disable @typescript-eslint/no-require-imports -- osls require()s this file */

const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const YAML = require("yaml");

const ACCESS_ENTRY_TEMPLATE = path.join(__dirname, "eks-access-entry.yml");
const BUNDLED_CONFIG = "config/config.yaml";
// The group bound by infra/rbac.yaml (SPEC §9).
const APPROVER_GROUP = "csr-approver:approvers";

// Kept in one place so the tests and docs can name them.
const LOGICAL_IDS = {
  topic: "AlertTopic",
  topicPolicy: "AlertTopicPolicy",
  dlq: "AsyncFailureQueue",
  approverRole: "ApproverRole",
  notifierRole: "NotifierRole",
  // osls names these after the function keys `approver` and `notifier`.
  approverFunction: "ApproverLambdaFunction",
  notifierFunction: "NotifierLambdaFunction",
  approverLogGroup: "ApproverLogGroup",
  notifierLogGroup: "NotifierLogGroup",
};

const sub = (text) => ({ "Fn::Sub": text });
const ref = (logicalId) => ({ Ref: logicalId });
const arnOf = (logicalId) => ({ "Fn::GetAtt": [logicalId, "Arn"] });

/** Reads the params the stack depends on, normalised (empty string / missing → none). */
async function readParams(resolveVariable) {
  const get = async (name) => {
    const value = await resolveVariable(`param:${name}`);
    return value === undefined ? null : value;
  };
  const text = async (name) => {
    const value = await get(name);
    if (value === null || value === "") return null;
    if (typeof value !== "string") throw new Error(`param "${name}" must be a string`);
    return value.trim() === "" ? null : value.trim();
  };
  const list = async (name) => {
    const value = await get(name);
    if (value === null || value === "") return [];
    const items = Array.isArray(value) ? value : String(value).split(",");
    return items.map((item) => {
      if (typeof item !== "string" || item.trim() === "") {
        throw new Error(`param "${name}" must be a list of non-empty strings`);
      }
      return item.trim();
    });
  };
  const number = async (name) => {
    const value = Number(await get(name));
    if (!Number.isFinite(value)) throw new Error(`param "${name}" must be a number`);
    return value;
  };
  return {
    configParameterName: await text("configParameterName"),
    alertTopicKmsKeyArn: await text("alertTopicKmsKeyArn"),
    eksClusterNames: await list("eksClusterNames"),
    eksRegions: await list("eksRegions"),
    parameterKmsKeyArn: await text("parameterKmsKeyArn"),
    eksAccessEntryClusters: await list("eksAccessEntryClusters"),
    credentialSecretArns: await list("credentialSecretArns"),
    credentialParameterNames: await list("credentialParameterNames"),
    slackWebhookSecretArn: await text("slackWebhookSecretArn"),
    slackWebhookParameterName: await text("slackWebhookParameterName"),
    vpcSubnetIds: await list("vpcSubnetIds"),
    vpcSecurityGroupIds: await list("vpcSecurityGroupIds"),
    metricsNamespace: await text("metricsNamespace"),
    denialAlarmThreshold: await number("denialAlarmThreshold"),
    centralAlertTopicArn: await text("centralAlertTopicArn"),
    centralAlertTopicKmsKeyArn: await text("centralAlertTopicKmsKeyArn"),
    stage: String(await resolveVariable("sls:stage")),
  };
}

/** An SSM parameter name or ARN → the parameter's ARN (names are in the deploy region). */
function ssmParameterArn(nameOrArn) {
  if (nameOrArn.startsWith("arn:")) return nameOrArn;
  return sub(
    `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${nameOrArn.replace(/^\//, "")}`,
  );
}

/** Region names; they go into ARNs and conditions. */
function assertRegion(region, param) {
  if (!/^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/.test(region)) {
    throw new Error(`param "${param}": "${region}" is not a region name`);
  }
}

function assertKmsKeyArn(arn, param) {
  if (!/^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(arn)) {
    throw new Error(
      `param "${param}": "${arn}" is not a KMS key ARN (arn:…:kms:<region>:<account>:key/<id>)`,
    );
  }
}

/** The region named in an ARN, or null for a plain name (which lives in the stack's region). */
function regionOfArn(value) {
  const parts = value.split(":");
  return parts[0] === "arn" && parts.length >= 6 && parts[3] ? parts[3] : null;
}

function assertSecretArn(arn, param) {
  if (!/^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/.test(arn)) {
    throw new Error(`param "${param}": "${arn}" is not a Secrets Manager secret ARN`);
  }
}

function lambdaTrustPolicy() {
  return {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
    ],
  };
}

/** What every function needs to run at all: its own log streams and its async-failure queue. */
function runtimePolicy(logGroupLogicalId) {
  return {
    PolicyName: "runtime",
    PolicyDocument: {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "OwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          // The log group ARN attribute ends in `:*`, which covers its streams.
          Resource: [arnOf(logGroupLogicalId)],
        },
        {
          Sid: "AsyncFailureDestination",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: [arnOf(LOGICAL_IDS.dlq)],
        },
      ],
    },
  };
}

/** ENI management, only when the approver is attached to a VPC (Lambda needs it to attach). */
function vpcPolicy() {
  return {
    PolicyName: "vpc-attachment",
    PolicyDocument: {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "LambdaVpcEnis",
          Effect: "Allow",
          Action: [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
          ],
          // These EC2 actions support no resource-level scoping for describe, and Lambda
          // picks the ENI at attach time.
          Resource: "*",
        },
      ],
    },
  };
}

/** Regions whose EKS clusters the approver may describe: `eksRegions`, default the stack's. */
function eksRegions(params) {
  params.eksRegions.forEach((region) => assertRegion(region, "eksRegions"));
  return params.eksRegions.length > 0 ? [...new Set(params.eksRegions)] : ["${AWS::Region}"];
}

/** The permissions of SPEC §9, scoped where AWS allows. */
function sweepPolicy(params) {
  const statements = [
    {
      Sid: "DiscoverClusters",
      Effect: "Allow",
      Action: ["eks:ListClusters"],
      Resource: "*", // ListClusters supports no resource-level permissions.
    },
    {
      Sid: "DescribeClusters",
      Effect: "Allow",
      Action: ["eks:DescribeCluster"],
      // The deployment's regions only (`eksRegions`, default the stack's): a cluster in any
      // other region cannot be described, so it is never swept, whatever the configuration says.
      Resource: eksRegions(params).flatMap((region) =>
        params.eksClusterNames.map((name) =>
          sub(`arn:\${AWS::Partition}:eks:${region}:\${AWS::AccountId}:cluster/${name}`),
        ),
      ),
    },
    {
      Sid: "InstanceFacts",
      Effect: "Allow",
      Action: ["ec2:DescribeInstances"],
      Resource: "*", // Describe* actions support no resource-level permissions.
    },
    {
      Sid: "PublishAlerts",
      Effect: "Allow",
      Action: ["sns:Publish"],
      Resource: [ref(LOGICAL_IDS.topic)],
    },
  ];
  statements.push(
    ...centralTopicStatements(
      params,
      statements.find((s) => s.Sid === "PublishAlerts"),
    ),
  );
  if (params.credentialSecretArns.length > 0) {
    params.credentialSecretArns.forEach((arn) => assertSecretArn(arn, "credentialSecretArns"));
    statements.push({
      Sid: "ClusterCredentialSecrets",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: params.credentialSecretArns,
    });
  }
  const parameters = [
    ...(params.configParameterName ? [params.configParameterName] : []),
    ...params.credentialParameterNames,
  ];
  if (parameters.length > 0) {
    statements.push({
      Sid: "ConfigAndCredentialParameters",
      Effect: "Allow",
      Action: ["ssm:GetParameter"],
      Resource: parameters.map(ssmParameterArn),
    });
  }
  if (params.parameterKmsKeyArn) {
    // SecureString parameters under a customer-managed key: Decrypt with that key, only
    // through SSM, and only for these parameters (SSM puts the parameter's ARN in the
    // encryption context). The AWS managed key aws/ssm needs no statement.
    assertKmsKeyArn(params.parameterKmsKeyArn, "parameterKmsKeyArn");
    if (parameters.length === 0) {
      throw new Error('param "parameterKmsKeyArn" is set but no SSM parameter is configured');
    }
    const regions = [...new Set(parameters.map((p) => regionOfArn(p) ?? "${AWS::Region}"))];
    statements.push({
      Sid: "SecureStringParameterKey",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: [params.parameterKmsKeyArn],
      Condition: {
        StringEquals: {
          "kms:ViaService": regions.map((region) => sub(`ssm.${region}.\${AWS::URLSuffix}`)),
          "kms:EncryptionContext:PARAMETER_ARN": parameters.map(ssmParameterArn),
        },
      },
    });
  }
  if (params.alertTopicKmsKeyArn) {
    // Publishing to an SSE-KMS topic needs the data key of the topic's key, nothing else.
    statements.push({
      Sid: "EncryptedTopicKey",
      Effect: "Allow",
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [params.alertTopicKmsKeyArn],
    });
  }
  return { PolicyName: "sweep", PolicyDocument: { Version: "2012-10-17", Statement: statements } };
}

/**
 * A central alert topic in another account (docs/organizations.md): the approver publishes its
 * alerts there instead of the local topic (which keeps the alarms), and gets Publish on it only —
 * and, when it is encrypted, the data key of its key through SNS in its region only.
 */
function centralTopicStatements(params, publishStatement) {
  const topic = params.centralAlertTopicArn;
  const key = params.centralAlertTopicKmsKeyArn;
  if (!topic) {
    if (key) throw new Error('param "centralAlertTopicKmsKeyArn" is set but "centralAlertTopicArn" is not');
    return [];
  }
  const match = /^arn:[a-z-]+:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$/.exec(topic);
  if (!match) throw new Error(`param "centralAlertTopicArn": "${topic}" is not an SNS topic ARN`);
  // The approver publishes only there (SPEC §9: Publish on the alert topic, exactly).
  publishStatement.Resource = [topic];
  if (!key) return [];
  assertKmsKeyArn(key, "centralAlertTopicKmsKeyArn");
  return [
    {
      Sid: "CentralTopicKey",
      Effect: "Allow",
      Action: ["kms:GenerateDataKey", "kms:Decrypt"],
      Resource: [key],
      Condition: { StringEquals: { "kms:ViaService": sub(`sns.${match[1]}.\${AWS::URLSuffix}`) } },
    },
  ];
}

/** The approver role's fixed name: the central topic's policy matches the organization's by it. */
const approverRoleName = (stage) => sub(`csr-approver-${stage}-approver-\${AWS::Region}`);

function webhookPolicy(params) {
  const statements = [];
  if (params.slackWebhookSecretArn) {
    assertSecretArn(params.slackWebhookSecretArn, "slackWebhookSecretArn");
    statements.push({
      Sid: "WebhookSecret",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: [params.slackWebhookSecretArn],
    });
  }
  if (params.slackWebhookParameterName) {
    statements.push({
      Sid: "WebhookParameter",
      Effect: "Allow",
      Action: ["ssm:GetParameter"],
      Resource: [ssmParameterArn(params.slackWebhookParameterName)],
    });
  }
  if (statements.length === 0) return [];
  return [{ PolicyName: "slack-webhook", PolicyDocument: { Version: "2012-10-17", Statement: statements } }];
}

function roles(params) {
  const vpcAttached = params.vpcSubnetIds.length > 0;
  return {
    [LOGICAL_IDS.approverRole]: {
      Type: "AWS::IAM::Role",
      Properties: {
        ...(params.centralAlertTopicArn ? { RoleName: approverRoleName(params.stage) } : {}),
        Description: "csr-approver sweep: SPEC section 9 permissions only",
        AssumeRolePolicyDocument: lambdaTrustPolicy(),
        Policies: [
          sweepPolicy(params),
          runtimePolicy(LOGICAL_IDS.approverLogGroup),
          ...(vpcAttached ? [vpcPolicy()] : []),
        ],
      },
    },
    [LOGICAL_IDS.notifierRole]: {
      Type: "AWS::IAM::Role",
      Properties: {
        Description: "csr-approver Slack notifier: reads its webhook URL, nothing else",
        AssumeRolePolicyDocument: lambdaTrustPolicy(),
        Policies: [...webhookPolicy(params), runtimePolicy(LOGICAL_IDS.notifierLogGroup)],
      },
    },
  };
}

/** CloudFormation logical IDs are alphanumeric; the hash keeps `a-b` and `ab` apart. */
function accessEntryLogicalId(clusterName) {
  const alnum = clusterName.replace(/[^A-Za-z0-9]/g, "");
  const hash = crypto.createHash("sha256").update(clusterName).digest("hex").slice(0, 8);
  return `ApproverAccessEntry${alnum}${hash}`;
}

function accessEntries(params) {
  const template = fs.readFileSync(ACCESS_ENTRY_TEMPLATE, "utf8");
  const entries = {};
  for (const clusterName of params.eksAccessEntryClusters) {
    // EKS cluster names: 1-100 chars, alphanumerics, hyphens, underscores.
    if (!/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/.test(clusterName)) {
      throw new Error(`param "eksAccessEntryClusters": "${clusterName}" is not an EKS cluster name`);
    }
    const entry = YAML.parse(template.replaceAll("__CLUSTER_NAME__", clusterName));
    if (entry.Properties.AccessPolicies !== undefined) {
      throw new Error("infra/eks-access-entry.yml must not grant EKS access policies");
    }
    if (JSON.stringify(entry.Properties.KubernetesGroups) !== JSON.stringify([APPROVER_GROUP])) {
      throw new Error(`infra/eks-access-entry.yml must map the role to ${APPROVER_GROUP} only`);
    }
    entries[accessEntryLogicalId(clusterName)] = entry;
  }
  return entries;
}

/** Every alarm of the stack, by logical ID (the dashboard shows their state). */
const ALARMS = [
  "ApproverErrorsAlarm",
  "ApproverNotRunningAlarm",
  "NotifierErrorsAlarm",
  "CsrDeniedAlarm",
  "ClusterSweepFailedAlarm",
  "AsyncFailureQueueDepthAlarm",
  "CsrApprovedElsewhereAlarm",
];

/**
 * One CloudWatch dashboard: decisions per cluster, what waits, failures, sweep duration, the
 * guards and the alarms. Metrics Insights queries over the namespace, like the alarms, so
 * every cluster appears without being listed at deploy time.
 */
function dashboard(params) {
  const namespace = params.metricsNamespace;
  const query = (select, label) => ({ expression: `${select} FROM "${namespace}"`, label });
  const graph = (x, y, title, queries, stat = "Sum") => ({
    type: "metric",
    x,
    y,
    width: 12,
    height: 6,
    properties: {
      title,
      region: "${AWS::Region}",
      view: "timeSeries",
      stat,
      period: 300,
      metrics: queries.map((q, i) => [{ ...q, id: `q${i + 1}` }]),
    },
  });
  const widgets = [
    graph(0, 0, "Approved per cluster", [query("SELECT SUM(CsrApproved) GROUP BY cluster", "")]),
    graph(12, 0, "Denied per cluster (dry-run and deny: false included)", [
      query("SELECT SUM(CsrDenied) GROUP BY cluster", ""),
    ]),
    graph(0, 6, "Waiting, held back, deferred", [
      query("SELECT SUM(CsrWaiting)", "waiting"),
      query("SELECT SUM(CsrHeld)", "held (superseded or over the backstop)"),
      query("SELECT SUM(CsrDeferred)", "deferred (time ran short)"),
      query("SELECT SUM(CsrNotExamined)", "not examined (over maxPendingPerNode)"),
    ]),
    graph(12, 6, "Failures", [
      query("SELECT SUM(ClusterSweepFailed) GROUP BY cluster", ""),
      query("SELECT SUM(CsrErrors)", "CSR writes failed"),
    ]),
    graph(0, 12, "Sweep duration (ms)", [query("SELECT MAX(SweepDuration)", "max")], "Maximum"),
    graph(12, 12, "Guards, alerts and EC2 budget", [
      query("SELECT SUM(NodeFloods)", "node floods"),
      query("SELECT SUM(FloodGuardTripped)", "cluster guard tripped"),
      query("SELECT SUM(AlertsPublished)", "alerts published"),
      query("SELECT SUM(Ec2DescribeInstancesCalls)", "DescribeInstances calls"),
    ]),
    graph(0, 18, "Audit: approvals made elsewhere", [
      query("SELECT SUM(CsrApprovedElsewhere) GROUP BY cluster", ""),
      query("SELECT SUM(CsrApprovedElsewhereViolations)", "the policy would not have approved"),
    ]),
    {
      type: "alarm",
      x: 0,
      y: 24,
      width: 24,
      height: 3,
      properties: { title: "Alarms", alarms: ALARMS.map((id) => `\${${id}.Arn}`) },
    },
  ];
  return {
    ApproverDashboard: {
      Type: "AWS::CloudWatch::Dashboard",
      Properties: { DashboardBody: sub(JSON.stringify({ widgets })) },
    },
  };
}

function alerting(params) {
  const topicRef = ref(LOGICAL_IDS.topic);
  const alarmActions = { AlarmActions: [topicRef], OKActions: [topicRef] };
  const namespace = params.metricsNamespace;
  if (!namespace || !/^[A-Za-z0-9_.\-/#:]+$/.test(namespace)) {
    throw new Error(`param "metricsNamespace": "${namespace}" is not a CloudWatch namespace`);
  }
  const lambdaMetricAlarm = (functionLogicalId, metricName, description, extra) => ({
    Type: "AWS::CloudWatch::Alarm",
    Properties: {
      AlarmDescription: description,
      Namespace: "AWS/Lambda",
      MetricName: metricName,
      Dimensions: [{ Name: "FunctionName", Value: ref(functionLogicalId) }],
      Statistic: "Sum",
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
      ...alarmActions,
      ...extra,
    },
  });
  // Metrics Insights queries over the whole namespace: they match whatever dimension set
  // the approver's EMF metrics carry (Powertools adds `service`), and GROUP BY cluster
  // makes every cluster its own contributor without listing clusters at deploy time.
  const insightsAlarm = (description, query, threshold, periods) => ({
    Type: "AWS::CloudWatch::Alarm",
    Properties: {
      AlarmDescription: description,
      Metrics: [{ Id: "q1", Expression: query, Period: 300, ReturnData: true }],
      EvaluationPeriods: periods,
      DatapointsToAlarm: periods,
      Threshold: threshold,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
      ...alarmActions,
    },
  });

  const topicProperties = { DisplayName: "csr-approver alerts" };
  if (params.alertTopicKmsKeyArn) topicProperties.KmsMasterKeyId = params.alertTopicKmsKeyArn;

  return {
    [LOGICAL_IDS.topic]: { Type: "AWS::SNS::Topic", Properties: topicProperties },
    [LOGICAL_IDS.topicPolicy]: {
      Type: "AWS::SNS::TopicPolicy",
      Properties: {
        Topics: [topicRef],
        PolicyDocument: {
          Version: "2012-10-17",
          // Only two publishers: the approver's role and this account's CloudWatch alarms. The
          // channel renders what arrives here, so nobody else in the account — whatever
          // sns:Publish their IAM policies grant — may post into it.
          Statement: [
            {
              Sid: "ApproverPublishes",
              Effect: "Allow",
              Principal: { AWS: arnOf(LOGICAL_IDS.approverRole) },
              Action: "sns:Publish",
              Resource: topicRef,
            },
            {
              Sid: "CloudWatchAlarms",
              Effect: "Allow",
              Principal: { Service: "cloudwatch.amazonaws.com" },
              Action: "sns:Publish",
              Resource: topicRef,
              Condition: {
                StringEquals: { "aws:SourceAccount": sub("${AWS::AccountId}") },
                ArnLike: {
                  "aws:SourceArn": sub(
                    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
                  ),
                },
              },
            },
            {
              // Conditions are ANDed: denied unless the caller is the approver role (its
              // sessions carry the role as aws:PrincipalArn) or the CloudWatch service.
              Sid: "NoOtherPublisher",
              Effect: "Deny",
              Principal: "*",
              Action: "sns:Publish",
              Resource: topicRef,
              Condition: {
                ArnNotEquals: { "aws:PrincipalArn": arnOf(LOGICAL_IDS.approverRole) },
                StringNotEquals: { "aws:PrincipalServiceName": "cloudwatch.amazonaws.com" },
              },
            },
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "sns:Publish",
              Resource: topicRef,
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        },
      },
    },
    [LOGICAL_IDS.dlq]: {
      Type: "AWS::SQS::Queue",
      Properties: { MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true },
    },
    ApproverErrorsAlarm: lambdaMetricAlarm(
      LOGICAL_IDS.approverFunction,
      "Errors",
      "csr-approver: the approver Lambda failed (whole-sweep error); see its logs",
    ),
    ApproverNotRunningAlarm: lambdaMetricAlarm(
      LOGICAL_IDS.approverFunction,
      "Invocations",
      "csr-approver: the approver has not run for 15 minutes; kubelet-serving CSRs are not being approved",
      {
        EvaluationPeriods: 3,
        Threshold: 1,
        ComparisonOperator: "LessThanThreshold",
        TreatMissingData: "breaching",
      },
    ),
    NotifierErrorsAlarm: lambdaMetricAlarm(
      LOGICAL_IDS.notifierFunction,
      "Errors",
      "csr-approver: the Slack notifier could not deliver an alert; see its logs",
    ),
    CsrDeniedAlarm: insightsAlarm(
      "csr-approver: burst of kubelet-serving CSR denials (each one is also alerted individually)",
      `SELECT SUM(CsrDenied) FROM "${namespace}"`,
      params.denialAlarmThreshold,
      1,
    ),
    // Any approval made elsewhere that the policy would not have made: each is also alerted
    // on its own (approved-elsewhere); the alarm keeps it visible where alarms are watched.
    CsrApprovedElsewhereAlarm: insightsAlarm(
      "csr-approver: a kubelet-serving CSR approved by someone else fails the checks (approved-elsewhere alert)",
      `SELECT SUM(CsrApprovedElsewhereViolations) FROM "${namespace}"`,
      1,
      1,
    ),
    ClusterSweepFailedAlarm: insightsAlarm(
      "csr-approver: sweeping a cluster failed for 10 minutes; its CSRs are not being decided",
      `SELECT SUM(ClusterSweepFailed) FROM "${namespace}" GROUP BY cluster`,
      1,
      2,
    ),
    AsyncFailureQueueDepthAlarm: {
      Type: "AWS::CloudWatch::Alarm",
      Properties: {
        AlarmDescription: "csr-approver: failed or expired async invocations are waiting in the DLQ",
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [LOGICAL_IDS.dlq, "QueueName"] } }],
        Statistic: "Maximum",
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        TreatMissingData: "notBreaching",
        ...alarmActions,
      },
    },
  };
}

module.exports = {
  LOGICAL_IDS,
  approverRoleName,
  ALARMS,
  APPROVER_GROUP,
  accessEntryLogicalId,

  /** `resources.Resources` of serverless.yml. */
  resources: async ({ resolveVariable }) => {
    const params = await readParams(resolveVariable);
    return { ...alerting(params), ...dashboard(params), ...roles(params), ...accessEntries(params) };
  },

  outputs: async () => ({
    AlertTopicArn: { Description: "SNS topic every alert is published to", Value: ref(LOGICAL_IDS.topic) },
    ApproverRoleArn: {
      Description: "IAM role of the approver (EKS access entries map it to csr-approver:approvers)",
      Value: arnOf(LOGICAL_IDS.approverRole),
    },
    AsyncFailureQueueUrl: { Description: "DLQ of failed async invocations", Value: ref(LOGICAL_IDS.dlq) },
  }),

  /** ALERT_TOPIC_ARN: the central topic when one is configured, else the stack's own. */
  alertTopicArn: async ({ resolveVariable }) => {
    const params = await readParams(resolveVariable);
    return params.centralAlertTopicArn ?? ref(LOGICAL_IDS.topic);
  },

  /** The approver's `vpc:` block, or none: private cluster endpoints need the attachment. */
  approverVpc: async ({ resolveVariable }) => {
    const params = await readParams(resolveVariable);
    const subnets = params.vpcSubnetIds.length > 0;
    const groups = params.vpcSecurityGroupIds.length > 0;
    if (subnets !== groups) {
      throw new Error('params "vpcSubnetIds" and "vpcSecurityGroupIds" must be set together');
    }
    return subnets ? { subnetIds: params.vpcSubnetIds, securityGroupIds: params.vpcSecurityGroupIds } : null;
  },

  /**
   * The sweep schedule's period in seconds (SWEEP_SCHEDULE_SECONDS): a continuous watch ends
   * shortly before the next scheduled run. Only `rate(N minute[s]|hour[s])` schedules.
   */
  scheduleSeconds: async ({ resolveVariable }) => {
    const schedule = String(await resolveVariable("param:sweepSchedule"));
    const match = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(schedule.trim());
    if (!match)
      throw new Error(`param "sweepSchedule" must be rate(N minutes) or rate(N hours), got "${schedule}"`);
    return String(Number(match[1]) * (match[2].startsWith("hour") ? 3600 : 60));
  },

  /** The bundled configuration file's path on Lambda, or "" when the repo has none. */
  bundledConfigFile: async () =>
    fs.existsSync(path.join(__dirname, "..", BUNDLED_CONFIG)) ? `/var/task/${BUNDLED_CONFIG}` : "",

  /** The notifier's SNS subscription, only when a webhook is configured. */
  notifierEvents: async ({ resolveVariable }) => {
    const params = await readParams(resolveVariable);
    if (!params.slackWebhookSecretArn && !params.slackWebhookParameterName) return [];
    return [{ sns: { arn: ref(LOGICAL_IDS.topic), topicName: "alert-topic" } }];
  },
};
