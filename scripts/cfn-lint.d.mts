// Types of scripts/cfn-lint.mjs for the tests that import it.
export declare const CFN_LINT_VERSION: string;
export declare const IGNORED_CHECKS: string[];
export declare function ensureCfnLint(): string;
export declare function lintTemplates(templates: string[]): { status: number | null; output: string };
