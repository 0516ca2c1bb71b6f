// Types of scripts/package.mjs for the tests that import it.
export declare const APPROVER_BUNDLE_BUDGET_BYTES: number;
export declare function zipEntrySizes(zipPath: string): Map<string, number>;
export declare function checkBundleSizes(
  sizes: Record<string, number | undefined>,
  budget?: number,
): { ok: boolean; lines: string[] };
export declare function bundleSizes(outDir: string): Record<"approver" | "notifier", number | undefined>;
export declare function readZipEntry(zipPath: string, entryName: string): Buffer;
export declare function writeStackSetTemplate(
  outDir: string,
  stage: string,
): { file: string; approverKey: string };
