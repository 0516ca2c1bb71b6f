// Entry of `npm start`, bundled to dist/sandbox.mjs by scripts/start.mjs; see run.ts.
import { main } from "./run.js";

process.exitCode = await main(process.argv.slice(2));
