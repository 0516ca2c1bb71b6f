// Runs the real `csr-approver` bin with this Node, as a workstation would: AWS pointed at
// moto and nothing else inherited (HOME is the test's own empty folder, so no ~/.aws or
// ~/.kube of the machine running the tests, and no KUBECONFIG).
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rig } from "../rig/context.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = join(ROOT, "bin/csr-approver.mjs");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(home: string, args: string[]): Promise<CliRun> {
  const { moto } = rig();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: home,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey,
        AWS_REGION: moto.region,
        AWS_EC2_METADATA_DISABLED: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}
