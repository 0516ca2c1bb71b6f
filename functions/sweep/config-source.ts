// Where the configuration document comes from: a file bundled with the function (or given
// to the CLI) and/or an SSM parameter. Parsing and validation are the pure core's job.
import { readFile } from "node:fs/promises";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseConfig, type Config } from "../core/config.js";

export interface ConfigSources {
  file?: string | undefined;
  ssmParameter?: string | undefined;
  ssm?: () => SSMClient;
}

/**
 * Reads and validates the configuration. With both sources, the SSM document's top-level
 * keys replace the file's (so an operator can override e.g. `defaults` without a deploy).
 * With neither, the defaults apply: EKS discovery in the approver's own region.
 */
export async function loadConfig(sources: ConfigSources): Promise<Config> {
  let doc: Record<string, unknown> = {};
  if (sources.file) doc = { ...doc, ...asObject(await readDocument(sources.file), sources.file) };
  if (sources.ssmParameter) {
    if (!sources.ssm)
      throw new ConfigError("", `SSM parameter ${sources.ssmParameter} given without an SSM client`);
    const out = await sources
      .ssm()
      .send(new GetParameterCommand({ Name: sources.ssmParameter, WithDecryption: true }));
    const text = out.Parameter?.Value;
    if (!text) throw new ConfigError("", `SSM parameter ${sources.ssmParameter} is empty`);
    doc = { ...doc, ...asObject(parseText(text, sources.ssmParameter), sources.ssmParameter) };
  }
  return parseConfig(doc);
}

async function readDocument(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConfigError("", `cannot read ${file}${code ? ` (${code})` : ""}`);
  }
  return parseText(text, file);
}

function parseText(text: string, source: string): unknown {
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    const first = ((err as Error).message.split("\n")[0] ?? "").replace(/:\s*$/, "");
    throw new ConfigError("", `${source} is not valid YAML or JSON: ${first}`);
  }
}

function asObject(doc: unknown, source: string): Record<string, unknown> {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError("", `${source}: expected a mapping at the top level`);
  }
  return doc as Record<string, unknown>;
}
