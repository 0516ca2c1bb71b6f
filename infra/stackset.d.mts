// Types of infra/stackset.mjs for the tests that import it.
export declare const STACKSET_TEMPLATE_FILE: string;
export declare const DRY_RUN_DOCUMENT: string;
export declare const MAX_ACCESS_ENTRY_CLUSTERS: number;
export declare function referencedIds(value: unknown): Set<string>;
export declare function contentKey(stage: string, name: string, bytes: Uint8Array): string;
export declare function stackSetTemplate(
  template: unknown,
  options: { stage: string; zipKeys: { approver: string } },
): Record<string, unknown>;
export declare function assertPortable(template: unknown): void;
