import { defineConfig } from "vitest/config";

// Under CI a JSON report is written too, so .ci/run can print one closing "N passed, N failed" line.
const ciReporters = process.env.CI
  ? { reporters: ["default", "json"], outputFile: { json: ".ci/results.json" } }
  : {};

export default defineConfig({
  test: {
    ...ciReporters,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // The rig (first build included) starts in globalSetup, which has no timeout;
          // per-file hooks only seed moto and create CSRs.
          globalSetup: ["test/rig/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // One rig, shared: integration files run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
