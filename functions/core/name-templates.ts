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

  if (!parts.some(isPerInstance)) {
    return {
      ok: false,
      problem: `${JSON.stringify(template)} names no instance: use {{privateDnsName}}, {{shortName}}, {{instanceId}} or {{tag:KEY}}, or every instance would give the same name`,
    };
  }
  // Two per-instance values side by side cannot be told apart in N (`{{shortName}}{{tag:X}}`).
  if (parts.slice(1).some((part, i) => isPerInstance(part) && isPerInstance(parts[i] as TemplatePart))) {
    return { ok: false, problem: "two placeholders must be separated by literal text or {{region}}" };
  }
  // With every placeholder a plain label, the result must be a DNS name.
  const sample = parts.map((part) => (part.kind === "literal" ? part.text : "x")).join("");
  if (!isPlainHostname(sample)) {
    return { ok: false, problem: `${JSON.stringify(template)} does not expand to a DNS name` };
  }
  return { ok: true, parts };
}

type PerInstancePart = Exclude<TemplatePart, { kind: "literal" } | { kind: "region" }>;

function isPerInstance(part: TemplatePart): part is PerInstancePart {
  return part.kind !== "literal" && part.kind !== "region";
}

// Templates are a few dozen characters: parsing one again costs less than keeping a cache.
function partsOf(template: string): TemplatePart[] | undefined {
  const result = parseNodeNameTemplate(template);
  return result.ok ? result.parts : undefined;
}

/** The value of the instance's tag `key` (keys are case-sensitive in EC2), if it names a node. */
function tagValue(instance: Ec2Instance, key: string): string | undefined {
  const value: unknown = instance.Tags?.find((tag) => tag?.Key === key)?.Value;
  return typeof value === "string" && isPlainHostname(value) ? value : undefined;
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
  // normalizeDnsName gives "" for a missing name, which names nothing below.
  const privateDns = normalizeDnsName(instance.PrivateDnsName as string);
  const id = normalizeDnsName(instance.InstanceId as string);
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
        value = firstLabel(privateDns);
        break;
      case "instanceId":
        value = INSTANCE_ID.test(id) ? id : undefined;
        break;
      case "region":
        value = region.toLowerCase();
        break;
      case "tag":
        value = tagValue(instance, part.key);
        break;
    }
    if (!value) return undefined;
    name += value;
  }
  return isPlainHostname(name) ? name : undefined;
}

/**
 * What node N must be under `template` for some instance, as exact EC2 filter values: the values
 * of the template's first per-instance placeholder that N allows (one when it is the only one;
 * otherwise one per place the literal text after it occurs in N, at most N's length). The match
 * itself is always decided by expanding the template for the instances found.
 */
export function templateLookups(template: string, nodeName: string, region: string): TemplateLookup[] {
  const parts = partsOf(template);
  const name = normalizeDnsName(nodeName);
  if (!parts || !isPlainHostname(name)) return [];
  // {{region}} is the cluster's own: literal text here.
  const text = (part: TemplatePart) =>
    part.kind === "literal" ? part.text : part.kind === "region" ? region.toLowerCase() : "";
  const anchorAt = parts.findIndex(isPerInstance); // a parsed template has one
  const anchor = parts[anchorAt] as PerInstancePart;
  const prefix = parts.slice(0, anchorAt).map(text).join("");
  const rest = parts.slice(anchorAt + 1);
  const nextAt = rest.findIndex(isPerInstance);
  if (!name.startsWith(prefix)) return [];
  const tail = name.slice(prefix.length);
  let ends: number[];
  if (nextAt < 0) {
    // The anchor is the last placeholder: N minus the literal text around it.
    const suffix = rest.map(text).join("");
    ends = tail.endsWith(suffix) ? [tail.length - suffix.length] : [];
  } else {
    // More placeholders follow: the anchor's value ends where the literal after it occurs.
    const separator = rest.slice(0, nextAt).map(text).join("");
    ends = [...tail].flatMap((_, at) => (tail.startsWith(separator, at) ? [at] : []));
  }
  return [...new Set(ends.map((end) => tail.slice(0, end)))].flatMap((value): TemplateLookup[] => {
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
