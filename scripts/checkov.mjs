#!/usr/bin/env node
// `node scripts/checkov.mjs <template.json>…`: checkov (PyPI, pinned) on CloudFormation
// templates, offline (--skip-download). Installed on first use into its own .rig/venv-checkov
// (its dependencies do not fit moto's constraints). Every finding must be one of SUPPRESSED,
// each with its one-line reason; anything else fails. Fails loudly when checkov cannot be
// installed or cannot parse a template.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const CHECKOV_VERSION = "3.3.30";

/** Findings accepted on purpose: check id, the resources it may name, and why. */
export const SUPPRESSED = [
  {
    check: "CKV_AWS_18",
    resources: ["AWS::S3::Bucket.ServerlessDeploymentBucket"],
    why: "the framework's artifact bucket (zips, templates; private, versioned): access logging would need a second bucket, and CloudTrail already records the deploy role's access",
  },
  {
    check: "CKV_AWS_158",
    resources: ["AWS::Logs::LogGroup.ApproverLogGroup", "AWS::Logs::LogGroup.NotifierLogGroup"],
    why: "the logs hold CSR, node and instance names, never a token or the webhook URL; CloudWatch Logs encrypts them at rest with its own keys",
  },
  {
    check: "CKV_AWS_116",
    resources: [
      "AWS::Lambda::Function.ApproverLambdaFunction",
      "AWS::Lambda::Function.NotifierLambdaFunction",
    ],
    why: "failed async invocations go to AsyncFailureQueue through an OnFailure destination (EventInvokeConfig, alarmed), the successor of DeadLetterConfig that the check looks for",
  },
  {
    check: "CKV_AWS_117",
    resources: [
      "AWS::Lambda::Function.ApproverLambdaFunction",
      "AWS::Lambda::Function.NotifierLambdaFunction",
    ],
    why: "a VPC is opt-in (params vpcSubnetIds/vpcSecurityGroupIds, for private API endpoints); the functions call AWS APIs, cluster endpoints and Slack, and accept no inbound traffic",
  },
  {
    check: "CKV_AWS_173",
    resources: [
      "AWS::Lambda::Function.ApproverLambdaFunction",
      "AWS::Lambda::Function.NotifierLambdaFunction",
    ],
    why: "the environment holds only names and ARNs; tokens and the webhook URL are read from Secrets Manager/SSM at run time",
  },
  {
    check: "CKV_AWS_26",
    resources: ["AWS::SNS::Topic.AlertTopic"],
    why: "a customer-managed key is opt-in (param alertTopicKmsKeyArn, whose key policy must let CloudWatch alarms publish), and alerts carry no secret; the StackSet's local topic carries the account's alarms, the central topic is encrypted (infra/org/central-alerts.yml)",
  },
  {
    check: "CKV_AWS_111",
    resources: ["AWS::IAM::Role.ApproverRole"],
    why: "only with the VPC opt-in: the ENI actions of AWS's AWSLambdaVPCAccessExecutionRole, which Lambda needs on '*' (the ENIs do not exist before it creates them)",
  },
  {
    check: "CKV_AWS_27",
    resources: ["AWS::SQS::Queue.AsyncFailureQueue"],
    why: "encrypted with SSE-SQS (SqsManagedSseEnabled: true); the check only recognises KmsMasterKeyId",
  },
  {
    check: "CKV_AWS_33",
    resources: ["AWS::KMS::Key.AlertTopicKey"],
    why: "infra/org/central-alerts.yml: the organization's approvers are not known by account (auto-deployment adds accounts), so the '*' principal is narrowed by aws:PrincipalOrgID, the approver role name and kms:ViaService SNS, for GenerateDataKey/Decrypt only",
  },
];

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20, ...options });
}

function versionOf(binary) {
  if (!existsSync(binary)) return undefined;
  const result = run(binary, ["--version"]);
  return result.status === 0 ? result.stdout.trim().split(/\s+/).pop() : undefined;
}

/** Path of a checkov executable of the pinned version; installs it when needed (1-3 min). */
export function ensureCheckov() {
  const venv = path.join(ROOT, ".rig", "venv-checkov");
  const binary = path.join(venv, "bin", "checkov");
  if (versionOf(binary) === CHECKOV_VERSION) return binary;
  rmSync(venv, { recursive: true, force: true });
  const python = process.env.PYTHON ?? "python3";
  const steps = [
    [python, ["-m", "venv", venv]],
    [
      path.join(venv, "bin", "python"),
      ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `checkov==${CHECKOV_VERSION}`],
    ],
  ];
  for (const [command, args] of steps) {
    const result = run(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    if (result.status !== 0) {
      rmSync(venv, { recursive: true, force: true });
      throw new Error(
        `cannot install checkov ${CHECKOV_VERSION} into ${venv}: \`${command} ${args.join(" ")}\` ` +
          `exited ${result.status ?? result.signal}\n${result.stderr || result.error?.message || ""}`,
      );
    }
  }
  if (versionOf(binary) !== CHECKOV_VERSION)
    throw new Error(`checkov in ${venv} is not version ${CHECKOV_VERSION}`);
  return binary;
}

/**
 * Runs checkov on each template. Returns every failed check, the ones not in SUPPRESSED,
 * and the suppressions that matched nothing in any template (stale ones).
 */
export function checkTemplates(templates) {
  const binary = ensureCheckov();
  const findings = [];
  for (const template of templates) {
    const result = run(binary, [
      "--file",
      path.resolve(template),
      "--framework",
      "cloudformation",
      "--skip-download",
      "--compact",
      "--quiet",
      "--output",
      "json",
    ]);
    if (result.error) throw result.error;
    let reports;
    try {
      reports = JSON.parse(result.stdout);
    } catch {
      throw new Error(`checkov gave no JSON for ${template} (exit ${result.status}):\n${result.stderr}`);
    }
    for (const report of Array.isArray(reports) ? reports : [reports]) {
      const summary = report.summary ?? {};
      if (summary.parsing_errors > 0 || !(summary.resource_count > 0))
        throw new Error(`checkov could not parse ${template}: ${JSON.stringify(summary)}\n${result.stderr}`);
      for (const failed of report.results?.failed_checks ?? [])
        findings.push({
          template,
          check: failed.check_id,
          resource: failed.resource,
          name: failed.check_name,
        });
    }
  }
  const explained = (f) => SUPPRESSED.some((s) => s.check === f.check && s.resources.includes(f.resource));
  const unexplained = findings.filter((f) => !explained(f));
  const stale = SUPPRESSED.flatMap((s) =>
    s.resources
      .filter((resource) => !findings.some((f) => f.check === s.check && f.resource === resource))
      .map((resource) => `${s.check} ${resource}`),
  );
  return { findings, unexplained, stale };
}

function main() {
  const templates = process.argv.slice(2);
  if (templates.length === 0) {
    console.error("usage: node scripts/checkov.mjs <template.json>...");
    process.exit(2);
  }
  const { findings, unexplained } = checkTemplates(templates);
  for (const f of findings) {
    const why = SUPPRESSED.find((s) => s.check === f.check && s.resources.includes(f.resource))?.why;
    console.log(
      `${why ? "suppressed" : "FINDING"} ${f.check} ${f.resource} (${f.name})${why ? `: ${why}` : ""}`,
    );
  }
  if (unexplained.length > 0) {
    console.error(`checkov: ${unexplained.length} unexplained finding(s)`);
    process.exit(1);
  }
  console.log(`checkov ${CHECKOV_VERSION}: no unexplained finding in ${templates.length} template(s)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
