// The command dispatcher behind bin/csr-approver.mjs. Each subcommand is a CommandSpec (for
// --help) plus a run function, loaded only when that command runs, so `evaluate` never loads
// the network-facing code of `sweep`.
import { EXIT_USAGE, PROGRAM, UsageError, type CliIo, type CommandSpec } from "./args.js";

interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<{ command: CommandSpec; run: (argv: string[], io: CliIo) => Promise<number> }>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: "evaluate",
    summary: "Decide CSRs offline from `kubectl get csr -o json` and `aws ec2 describe-instances` output.",
    load: async () => {
      const module = await import("./evaluate.js");
      return { command: module.evaluateCommand, run: module.runEvaluate };
    },
  },
  {
    name: "sweep",
    summary: "Run one sweep of the configured clusters from this workstation (ambient AWS credentials).",
    load: async () => {
      const module = await import("./sweep.js");
      return { command: module.sweepCommand, run: module.runSweepCommand };
    },
  },
  {
    name: "setup-cluster",
    summary:
      "Grant the approver's group its RBAC in a cluster (infra/rbac.yaml); print the EKS access entry.",
    load: async () => {
      const module = await import("./setup-cluster.js");
      return { command: module.setupClusterCommand, run: module.runSetupCluster };
    },
  },
];

export function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    "",
    "Approves kubelet-serving CSRs that match the EC2 facts of the instance that asked.",
    "",
    "Commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    `Run '${PROGRAM} <command> --help' for a command's options.`,
    "",
  ].join("\n");
}

function processIo(): CliIo {
  // `csr-approver evaluate … | head`: a reader that goes away is the end of the output, not a
  // crash. Any other stdout error is reported on one line.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    process.stderr.write(`${PROGRAM}: cannot write output: ${error.message}\n`);
    process.exit(1);
  });
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin)
        chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
      return Buffer.concat(chunks).toString("utf8");
    },
    env: process.env,
  };
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined) throw new UsageError(`${PROGRAM}: missing command (see ${PROGRAM} --help)`);
    if (first === "--help" || first === "-h") {
      io.stdout(topLevelHelp());
      return 0;
    }
    if (first === "help") {
      if (rest[0] === undefined) {
        io.stdout(topLevelHelp());
        return 0;
      }
      return await dispatch(rest[0], ["--help"], io);
    }
    return await dispatch(first, rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${error.message}\n`);
      return EXIT_USAGE;
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.stderr(`${PROGRAM}: internal error: ${message}\n`);
    return 1;
  }
}

async function dispatch(name: string, argv: string[], io: CliIo): Promise<number> {
  const entry = COMMANDS.find((command) => command.name === name);
  if (!entry) {
    const what = name.startsWith("-") ? `unknown option '${name}'` : `unknown command '${name}'`;
    throw new UsageError(`${PROGRAM}: ${what} (see ${PROGRAM} --help)`);
  }
  const { run } = await entry.load();
  return run(argv, io);
}
