import { defineConfig } from "vitest/config";

// The unit tests Stryker runs against mutants of the security core (`npm run test:mutation`,
// stryker.config.json). The deterministic tests only: the random property and fuzz suites
// (policy.property, request.fuzz) take seconds per run and would run for nearly every mutant;
// they stay in `npm test`.
export default defineConfig({
  test: {
    // RSA key generation in request.test.ts takes seconds on a busy machine.
    testTimeout: 30_000,
    include: [
      "test/unit/ip.test.ts",
      "test/unit/ownership.test.ts",
      "test/unit/identity.test.ts",
      "test/unit/identity-templates.test.ts",
      "test/unit/name-templates.test.ts",
      "test/unit/budgets.test.ts",
      "test/unit/strip-requests.test.ts",
      "test/unit/csrs-sizes.test.ts",
      "test/unit/request.test.ts",
      "test/unit/request.edges.test.ts",
      "test/unit/policy.test.ts",
      "test/unit/policy.branches.test.ts",
      "test/unit/redteam.test.ts",
      // policy.ts's non-EC2 branch (nonEc2Nodes, NON_NODE_IGNORED) is tested here; its one
      // property test has a fixed seed.
      "test/unit/non-ec2.test.ts",
    ],
  },
});
