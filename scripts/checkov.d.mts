// Types of scripts/checkov.mjs for the tests that import it.
export declare const CHECKOV_VERSION: string;
export declare const SUPPRESSED: { check: string; resources: string[]; why: string }[];
export declare function ensureCheckov(): string;
export interface CheckovFinding {
  template: string;
  check: string;
  resource: string;
  name: string;
}
export declare function checkTemplates(templates: string[]): {
  findings: CheckovFinding[];
  unexplained: CheckovFinding[];
  stale: string[];
};
