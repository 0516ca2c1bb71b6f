// Argument parsing shared by every subcommand: node:util parseArgs in strict mode, with its
// errors turned into one line that names the flag and points at --help.
import { parseArgs, type ParseArgsConfig } from "node:util";

export const PROGRAM = "csr-approver";

/** Exit code for a usage or input error: the command never ran. */
export const EXIT_USAGE = 2;

/** A problem with the command line or an input file; reported as one line, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>[string] & {
  /** Shown in --help, e.g. "FILE|-"; omit for boolean flags. */
  valueName?: string;
  description: string;
};

/** What the dispatcher needs to know about a subcommand. */
export interface CommandSpec {
  name: string;
  summary: string; // one line for the top-level help
  usage: string; // the synopsis after the program name
  details?: string; // paragraphs after the option list
  options: Record<string, OptionSpec>;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  env: Record<string, string | undefined>;
}

export type ParsedValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** Parses argv for one command; unknown flags, missing values and stray arguments are UsageErrors. */
export function parseCommandArgs(command: CommandSpec, argv: string[]): ParsedValues {
  const options: NonNullable<ParseArgsConfig["options"]> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, spec] of Object.entries(command.options)) {
    const { valueName: _valueName, description: _description, ...parseSpec } = spec;
    options[name] = parseSpec;
  }
  const hint = `(see ${PROGRAM} ${command.name} --help)`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`${PROGRAM} ${command.name}: ${describeParseError(error)} ${hint}`);
  }
  if (parsed.positionals.length > 0 && !parsed.values.help) {
    throw new UsageError(
      `${PROGRAM} ${command.name}: unexpected argument '${parsed.positionals[0]}' ${hint}`,
    );
  }
  return parsed.values as ParsedValues;
}

function describeParseError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = /'([^']+)'/.exec(message)?.[1];
    return flag ? `unknown option '${flag}'` : "unknown option";
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = /'(--?[^' ]+)/.exec(message)?.[1];
    // parseArgs says "argument missing" for a string flag given without its value.
    if (/argument missing|argument is ambiguous/.test(message))
      return `option '${flag ?? "?"}' needs a value`;
    if (/does not take an argument/.test(message)) return `option '${flag ?? "?"}' takes no value`;
  }
  // Keep any other parseArgs message to its first sentence, on one line.
  return message.split("\n")[0]?.replace(/\.\s.*$/, "") ?? message;
}

/** A string option, or undefined; the last one wins if repeated by mistake. */
export function stringOption(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value.at(-1) as string | undefined;
  return typeof value === "string" ? value : undefined;
}

export function stringListOption(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return typeof value === "string" ? [value] : [];
}

export function formatHelp(command: CommandSpec): string {
  const rows = Object.entries(command.options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.valueName ? ` ${spec.valueName}` : ""}`;
    return [flag, spec.description + (spec.multiple ? " (repeatable)" : "")] as const;
  });
  rows.push(["-h, --help", "Show this help."]);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const lines = [
    `Usage: ${PROGRAM} ${command.usage}`,
    "",
    command.summary,
    "",
    "Options:",
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
  ];
  if (command.details) lines.push("", command.details.trimEnd());
  return `${lines.join("\n")}\n`;
}
