// What an instance owns (SPEC §4): the only IPs and DNS names a certificate for it may carry.
import { canonicalIp } from "./ip.js";
import type { Ec2Association, Ec2Instance, Ec2NetworkInterface, OwnedAddresses } from "./types.js";

export { canonicalIp } from "./ip.js";

/** Lower case, one trailing dot removed: the form every DNS comparison uses. */
export function normalizeDnsName(s: string): string {
  const lower = s.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A plain hostname after normalisation: LDH labels only, so never a wildcard or an IP-ish oddity. */
export function isPlainHostname(name: string): boolean {
  // "" fails the label pattern below.
  if (name.length > 253) return false;
  return name.split(".").every((label) => LABEL.test(label));
}

export function firstLabel(name: string): string {
  const dot = name.indexOf(".");
  return dot < 0 ? name : name.slice(0, dot);
}

/** The resource-name hostnames EC2 gives an instance in `region` (us-east-1 uses ec2.internal). */
export function resourceNameHostnames(instanceId: string, region: string): string[] {
  const id = instanceId.toLowerCase();
  return region === "us-east-1" ? [`${id}.ec2.internal`] : [`${id}.${region.toLowerCase()}.compute.internal`];
}

/** Interfaces whose addresses count: attached and in use (SPEC §4). */
export function inUseInterfaces(instance: Ec2Instance): Ec2NetworkInterface[] {
  return (instance.NetworkInterfaces ?? []).filter((eni) => eni.Status === "in-use");
}

const TEMPLATE_PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;
/**
 * Placeholders that make a name this instance's own. A template without one (a literal name,
 * or `nodes.{{region}}.example.com`) would give the same name to every instance, i.e. let any
 * node obtain it: such templates grant nothing (SPEC §4, "for this instance only").
 */
export const INSTANCE_SPECIFIC_PLACEHOLDERS = ["shortName", "privateDnsName", "instanceId", "nodeName"];

/** One extraDnsNames template for this instance, or undefined when it cannot be expanded safely. */
export function expandDnsTemplate(
  template: string,
  values: Record<string, string | undefined>,
): string | undefined {
  let unresolved = false;
  let perInstance = false;
  const expanded = template.replace(TEMPLATE_PLACEHOLDER, (_whole, key: string) => {
    const value = Object.prototype.hasOwnProperty.call(values, key) ? values[key] : undefined;
    if (value === undefined || value.length === 0) unresolved = true;
    if (INSTANCE_SPECIFIC_PLACEHOLDERS.includes(key)) perInstance = true;
    return String(value);
  });
  if (unresolved || !perInstance || expanded.includes("{") || expanded.includes("}")) return undefined;
  const name = normalizeDnsName(expanded);
  return isPlainHostname(name) ? name : undefined;
}

export interface OwnershipContext {
  /** N, only when N was matched to this instance by name (SPEC §3); it then becomes an owned name. */
  nodeName?: string;
  region: string;
  extraDnsNames: string[];
}

export function ownedAddresses(instance: Ec2Instance, ctx: OwnershipContext): OwnedAddresses {
  const ips = new Set<string>();
  const names = new Set<string>();
  const addIp = (value: string | undefined): void => {
    const ip = canonicalIp(value);
    if (ip) ips.add(ip.value);
  };
  // "" and absent names are not plain hostnames: they add nothing.
  const addName = (value: string | undefined): void => {
    const name = normalizeDnsName(value ?? "");
    if (isPlainHostname(name)) names.add(name);
  };
  const addAssociation = (association: Ec2Association | undefined): void => {
    addIp(association?.PublicIp);
    addName(association?.PublicDnsName);
  };

  if (!instance.NetworkInterfaces?.length) addIp(instance.PrivateIpAddress);
  for (const eni of inUseInterfaces(instance)) {
    addIp(eni.PrivateIpAddress);
    addName(eni.PrivateDnsName);
    addAssociation(eni.Association);
    for (const address of eni.PrivateIpAddresses ?? []) {
      addIp(address.PrivateIpAddress);
      addName(address.PrivateDnsName);
      addAssociation(address.Association);
    }
    for (const address of eni.Ipv6Addresses ?? []) addIp(address.Ipv6Address);
    // Ipv4Prefixes / Ipv6Prefixes are delegated pod ranges: deliberately not owned.
  }
  addIp(instance.PublicIpAddress);

  // "" for absent values: a name or template built from one is refused (not a plain hostname, unresolved).
  const privateDns = normalizeDnsName(instance.PrivateDnsName ?? "");
  const shortName = firstLabel(privateDns);
  const instanceId = instance.InstanceId ?? "";
  const nodeName = normalizeDnsName(ctx.nodeName ?? "");
  addName(privateDns);
  addName(shortName);
  addName(instance.PublicDnsName);
  addName(instanceId);
  if (instanceId && ctx.region)
    for (const name of resourceNameHostnames(instanceId, ctx.region)) addName(name);
  addName(nodeName);

  // expandDnsTemplate lower-cases the expanded name (normalizeDnsName).
  const values: Record<string, string> = {
    shortName,
    privateDnsName: privateDns,
    instanceId,
    region: ctx.region,
    nodeName,
  };
  for (const template of ctx.extraDnsNames) {
    const name = expandDnsTemplate(template, values);
    if (name) names.add(name);
  }

  return { ips: [...ips].sort(), dnsNames: [...names].sort() };
}
