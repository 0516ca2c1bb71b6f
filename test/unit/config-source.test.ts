// Where the configuration comes from (file and/or SSM), and its one-line errors.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../functions/sweep/config-source.js";

const dir = mkdtempSync(join(tmpdir(), "csr-config-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
/** An SSM client that answers GetParameter with `value` and records what was asked. */
const ssm =
  (value: string | undefined, asked: unknown[] = []) =>
  () =>
    ({
      send: async (command: { input: unknown }) => {
        asked.push(command.input);
        return { Parameter: value === undefined ? {} : { Value: value } };
      },
    }) as unknown as SSMClient;

describe("loadConfig", () => {
  it("with no source, applies every default (EKS discovery in the approver's region)", async () => {
    const config = await loadConfig({});
    expect(config.eks.discovery).toBe(true);
    expect(config.regions).toEqual([]);
    expect(config.defaults.mode).toBe("enforce");
  });

  it("reads YAML from a file", async () => {
    const config = await loadConfig({ file: file("a.yaml", "defaults:\n  mode: dry-run\n") });
    expect(config.defaults.mode).toBe("dry-run");
  });

  it("lets each top-level key of the SSM document replace the file's, decrypting SecureStrings", async () => {
    const asked: unknown[] = [];
    const config = await loadConfig({
      file: file("b.yaml", "regions: [eu-west-1]\ndefaults:\n  mode: dry-run\n  deny: false\n"),
      ssmParameter: "/csr-approver/prod/config",
      ssm: ssm('{"defaults": {"pendingGraceSeconds": 60}}', asked),
    });
    expect(asked).toEqual([{ Name: "/csr-approver/prod/config", WithDecryption: true }]);
    expect(config.regions).toEqual(["eu-west-1"]);
    // `defaults` came whole from SSM: the file's mode/deny are gone, not merged.
    expect(config.defaults).toMatchObject({ pendingGraceSeconds: 60, mode: "enforce", deny: true });
  });

  it.each([
    ["a missing file", { file: join(dir, "none.yaml") }, /^config: cannot read .*none\.yaml \(ENOENT\)$/],
    [
      "invalid YAML",
      { file: file("c.yaml", "eks: [\n") },
      /^config: .*c\.yaml is not valid YAML or JSON: [^\n]*[^:]$/,
    ],
    [
      "a list at the top",
      { file: file("d.yaml", "- 1\n") },
      /^config: .*d\.yaml: expected a mapping at the top level$/,
    ],
    [
      "an unknown key",
      { file: file("e.yaml", "eks:\n  discovry: true\n") },
      /^config: eks\.discovry: unknown key$/,
    ],
    [
      "an empty SSM parameter",
      { ssmParameter: "/x", ssm: ssm(undefined) },
      /^config: SSM parameter \/x is empty$/,
    ],
  ])("%s is one line naming the problem", async (_what, sources, message) => {
    await expect(loadConfig(sources)).rejects.toThrow(message);
  });
});
