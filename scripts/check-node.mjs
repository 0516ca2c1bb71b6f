// The Lambda runs Node 22; the tests must too. `npm run` puts the node@22 devDependency
// first on PATH, so a different major here means the scripts were run some other way.
const major = Number(process.versions.node.split(".")[0]);
if (major !== 22) {
  console.error(
    `error: tests must run on Node 22 (the Lambda runtime), got ${process.version}; run them through npm (npm test)`,
  );
  process.exit(1);
}
