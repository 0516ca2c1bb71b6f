import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
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
          globalSetup: ["test/rig/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          // One rig, shared: integration files run one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
