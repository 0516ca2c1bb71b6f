// Flat config: typescript-eslint's recommended rules plus the few that guard the
// functional-core boundary (core/ must not reach the network or the SDKs).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      ".serverless/",
      ".esbuild/",
      ".rig/",
      "coverage/",
      "bench/results/",
      "reports/",
      ".stryker-tmp/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    files: ["functions/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@aws-sdk/*", "@kubernetes/*", "@smithy/*", "@middy/*", "@aws-lambda-powertools/*"],
              message: "core/ is pure: no SDKs.",
            },
            {
              group: ["node:http", "node:https", "node:net", "node:fs", "node:child_process", "node:dns"],
              message: "core/ is pure: no I/O.",
            },
            {
              group: ["../sweep/*", "../cli/*", "../*.js"],
              message: "core/ imports nothing from the shell.",
            },
          ],
        },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: "core/ takes time as a value: pass `now`.",
        },
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: "core/ takes time as a value: pass `now`.",
        },
      ],
    },
  },
);
