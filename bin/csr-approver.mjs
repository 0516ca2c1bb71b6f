#!/usr/bin/env node
// Thin entry: the CLI lives in functions/cli and is bundled to dist/ by `npm ci` (prepare).
import { main } from "../dist/cli.mjs";

process.exitCode = await main(process.argv.slice(2));
