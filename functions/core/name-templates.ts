// Node name templates (SPEC §3, the cluster's `nodeNameTemplates`): node N is instance X when N
// equals a template expanded for X, e.g. `{{tag:Name}}` (kubespray inventories: `node1` in the
// instance's Name tag) or `{{shortName}}.corp.example.com` (a custom DHCP domain). Pure:
// - parseNodeNameTemplate: the one parser (the config's validation calls it, so whatever the
//   approver accepts, this module can expand and look up);
// - expandNodeNameTemplate: the name a template gives one EC2 record, or none;
// - templateLookups: the exact EC2 filter values node N can stand for under a template, for the
//   batched DescribeInstances (never a wildcard, never one call per CSR).
import { firstLabel, isPlainHostname, normalizeDnsName } from "./ownership.js";
import type { Ec2Instance } from "./types.js";

/** Placeholders that differ from instance to instance: every template needs one. */
export const PER_INSTANCE_PLACEHOLDERS = ["privateDnsName", "shortName", "instanceId"] as const;
export const NODE_NAME_PLACEHOLDERS = [...PER_INSTANCE_PLACEHOLDERS, "region", "tag:KEY"] as const;

type PerInstance = (typeof PER_INSTANCE_PLACEHOLDERS)[number];

export type TemplatePart =
  | { kind: "literal"; text: string }
  | { kind: PerInstance }
  | { kind: "region" }
  | { kind: "tag"; key: string };

/** One value node N must have for an instance to match, as an EC2 filter can ask for it. */
export type TemplateLookup =
  | { kind: "privateDnsName" | "shortName" | "instanceId"; value: string }
  | { kind: "tag"; key: string; value: string };

export type TemplateParse = { ok: true; parts: TemplatePart[] } | { ok: false; problem: string };

const PLACEHOLDER = /\{\{(.*?)\}\}/g;
// EC2 tag keys: letters, digits, spaces and + - = . _ : / @, at most 128 characters.
const TAG_KEY = /^[\p{L}\p{N} +\-=._:/@]{1,128}$/u;
// Literal text is part of a lower-case DNS name.
const LITERAL = /^[a-z0-9.-]*$/;
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const KNOWN = NODE_NAME_PLACEHOLDERS.map((name) => `{{${name}}}`).join(" ");

export function parseNodeNameTemplate(template: string): TemplateParse {
  const parts: TemplatePart[] = [];
  let rest = 0;
  const literal = (text: string): TemplateParse | undefined => {
    if (text.includes("{") || text.includes("}")) return { ok: false, problem: "unbalanced {{ }}" };
    if (!LITERAL.test(text)) {
      return {
        ok: false,
        problem: `literal text ${JSON.stringify(text)} is not part of a lower-case DNS name (a-z, 0-9, '.', '-')`,
      };
    }
    if (text !== "") parts.push({ kind: "literal", text });
    return undefined;
  };
  for (const match of template.matchAll(PLACEHOLDER)) {
    const failed = literal(template.slice(rest, match.index));
    if (failed) return failed;
    rest = match.index + match[0].length;
    const name = (match[1] ?? "").trim();
    if (name.startsWith("tag:")) {
      const key = name.slice("tag:".length).trim();
      if (key === "") return { ok: false, problem: "{{tag:}} names no tag key (e.g. {{tag:Name}})" };
      if (!TAG_KEY.test(key)) {
        return {
          ok: false,
          problem: `{{tag:${key}}}: not an EC2 tag key (at most 128 letters, digits, spaces and + - = . _ : / @)`,
        };
      }
      parts.push({ kind: "tag", key });
    } else if (name === "region" || (PER_INSTANCE_PLACEHOLDERS as readonly string[]).includes(name)) {
      parts.push({ kind: name as PerInstance | "region" });
    } else {
      return { ok: false, problem: `unknown placeholder {{${name}}} (known: ${KNOWN})` };
    }
  }
  const failed = literal(template.slice(rest));
  if (failed) return failed;

  const perInstance = parts.filter(isPerInstance);
  if (perInstance.length === 0) {
    return {
      ok: false,
      problem: `${JSON.stringify(template)} names no instance: use {{privateDnsName}}, {{shortName}}, {{instanceId}} or {{tag:KEY}}, or every instance would give the same name`,
    };
  }
  // Two per-instance values side by side cannot be told apart in N (`{{shortName}}{{tag:X}}`).
  for (let i = 1; i < parts.length; i++) {
    const [before, after] = [parts[i - 1], parts[i]];
    if (before && after && isPerInstance(before) && isPerInstance(after)) {
      return { ok: false, problem: "two placeholders must be separated by literal text or {{region}}" };
    }
  }
  // With every placeholder a plain label, the result must be a DNS name.
  const sample = parts.map((part) => (part.kind === "literal" ? part.text : "x")).join("");
  if (!isPlainHostname(sample)) {
    return { ok: false, problem: `${JSON.stringify(template)} does not expand to a DNS name` };
  }
  return { ok: true, parts };
}

function isPerInstance(part: TemplatePart): boolean {
  return part.kind !== "literal" && part.kind !== "region";
}

// Configurations repeat the same few templates for every instance and CSR: parse each once.
const parsed = new Map<string, TemplatePart[] | undefined>();
function partsOf(template: string): TemplatePart[] | undefined {
  if (!parsed.has(template)) {
    const result = parseNodeNameTemplate(template);
    if (parsed.size > 1000) parsed.clear();
    parsed.set(template, result.ok ? result.parts : undefined);
  }
  return parsed.get(template);
}

/** The value of the instance's tag `key` (keys are case-sensitive in EC2), if it has one. */
function tagValue(instance: Ec2Instance, key: string): string | undefined {
  const tags = Array.isArray(instance.Tags) ? instance.Tags : [];
  const value = tags.find((tag) => tag?.Key === key)?.Value;
  return typeof value === "string" ? value : undefined;
}

/**
 * The node name `template` gives `instance` in `region`, or undefined when a value is missing
 * or is not a lower-case DNS name (EC2 tag values are free text: `Node1` or `web server`
 * name nobody).
 */
export function expandNodeNameTemplate(
  template: string,
  instance: Ec2Instance,
  region: string,
): string | undefined {
  const parts = partsOf(template);
  if (!parts) return undefined;
  const privateDns =
    typeof instance.PrivateDnsName === "string" && instance.PrivateDnsName !== ""
      ? normalizeDnsName(instance.PrivateDnsName)
      : undefined;
  const id = typeof instance.InstanceId === "string" ? instance.InstanceId.toLowerCase() : undefined;
  let name = "";
  for (const part of parts) {
    let value: string | undefined;
    switch (part.kind) {
      case "literal":
        value = part.text;
        break;
      case "privateDnsName":
        value = privateDns;
        break;
      case "shortName":
        value = privateDns === undefined ? undefined : firstLabel(privateDns);
        break;
      case "instanceId":
        value = id !== undefined && INSTANCE_ID.test(id) ? id : undefined;
        break;
      case "region":
        value = region.toLowerCase();
        break;
      case "tag": {
        const tag = tagValue(instance, part.key);
        value = tag !== undefined && isPlainHostname(tag) ? tag : undefined;
        break;
      }
    }
    if (value === undefined || value === "") return undefined;
    name += value;
  }
  return isPlainHostname(name) ? name : undefined;
}

/**
 * What node N must be under `template` for some instance, as exact EC2 filter values: the values
 * of the template's first per-instance placeholder that N allows (one when it is the only one;
 * otherwise one per place the literal after it occurs in N, at most N's length). The match
 * itself is always decided by expanding the template for the instances found.
 */
export function templateLookups(template: string, nodeName: string, region: string): TemplateLookup[] {
  const parts = partsOf(template);
  const name = normalizeDnsName(nodeName);
  if (!parts || !isPlainHostname(name)) return [];
  // {{region}} is the cluster's: as good as literal text here.
  const merged: TemplatePart[] = [];
  for (const part of parts) {
    const text =
      part.kind === "literal" ? part.text : part.kind === "region" ? region.toLowerCase() : undefined;
    const last = merged[merged.length - 1];
    if (text === undefined) merged.push(part);
    else if (last?.kind === "literal")
      merged[merged.length - 1] = { kind: "literal", text: last.text + text };
    else merged.push({ kind: "literal", text });
  }
  const anchorAt = merged.findIndex((part) => part.kind !== "literal");
  const anchor = merged[anchorAt];
  if (!anchor || anchor.kind === "literal" || anchor.kind === "region") return [];
  const prefix = anchorAt > 0 ? (merged[0] as { text: string }).text : "";
  const after = merged[anchorAt + 1];
  const last = merged[merged.length - 1];
  const suffix = last?.kind === "literal" && merged.length - 1 > anchorAt ? last.text : "";
  if (!name.startsWith(prefix) || !name.endsWith(suffix) || name.length < prefix.length + suffix.length + 1) {
    return [];
  }
  const values: string[] = [];
  if (!merged.slice(anchorAt + 1).some((part) => part.kind !== "literal")) {
    // The anchor is the last placeholder: N minus the literal text around it.
    values.push(name.slice(prefix.length, name.length - suffix.length));
  } else if (after?.kind === "literal") {
    // More placeholders follow: the anchor ends where the literal after it occurs.
    for (
      let at = name.indexOf(after.text, prefix.length + 1);
      at >= 0;
      at = name.indexOf(after.text, at + 1)
    ) {
      values.push(name.slice(prefix.length, at));
    }
  }
  return [...new Set(values)].flatMap((value): TemplateLookup[] => {
    switch (anchor.kind) {
      case "tag":
        return isPlainHostname(value) ? [{ kind: "tag", key: anchor.key, value }] : [];
      case "shortName":
        return isPlainHostname(value) && !value.includes(".") ? [{ kind: "shortName", value }] : [];
      case "instanceId":
        return INSTANCE_ID.test(value) ? [{ kind: "instanceId", value }] : [];
      case "privateDnsName":
        return isPlainHostname(value) ? [{ kind: "privateDnsName", value }] : [];
    }
  });
}
