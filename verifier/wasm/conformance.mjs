// The dgc-testdata conformance suite through the wasm build, compared case by case with the
// native verifier's verdicts from the same data.
//
//   node verifier/wasm/conformance.mjs PKG DATA NATIVE.jsonl
//
// PKG: the output of `wasm-bindgen --target nodejs` for vaxpass_verifier_wasm.wasm;
// DATA: the dgc-testdata folder; NATIVE.jsonl: `vaxpass-verify conformance DATA --format json`
// (one line per evaluated pair, and one per file that is not a test case). The native run
// names the picture it took from a country's png/ folder; the same file is given to wasm.
// Exit status 0 only when every pair has the same verdict in both and every file the native
// runner could not read is refused by wasm too.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [pkg, data, nativePath] = process.argv.slice(2);
if (!pkg || !data || !nativePath) {
  console.error("usage: node conformance.mjs PKG DATA NATIVE.jsonl");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const wasm = require(resolve(pkg, "vaxpass_verifier_wasm.js"));

const files = new Map(); // file -> { pairs: [...], broken: string | null, picture }
for (const line of readFileSync(nativePath, "utf8").split("\n")) {
  if (!line.startsWith("{")) continue; // the summary line
  const row = JSON.parse(line);
  const entry = files.get(row.file) ?? { pairs: [], broken: null, picture: null };
  if (row.error !== undefined) entry.broken = row.error;
  else {
    entry.pairs.push(row);
    if (row.picture) entry.picture = row.picture;
  }
  files.set(row.file, entry);
}
if (files.size === 0) {
  console.error(`${nativePath}: no results (did the native run fail?)`);
  process.exit(2);
}

let pairs = 0;
let agree = 0;
const disagreements = [];
let wasmMs = 0;
for (const [file, entry] of files) {
  const json = readFileSync(join(data, file));
  const picture = entry.picture ? readFileSync(join(data, entry.picture)) : undefined;
  let results;
  const started = performance.now();
  try {
    results = JSON.parse(wasm.conformanceCase(json, picture));
  } catch (e) {
    results = null;
    if (entry.broken === null) disagreements.push(`${file}: wasm refused the file: ${e.message}`);
  }
  wasmMs += performance.now() - started;
  if (results === null) {
    if (entry.broken !== null) {
      pairs += 1;
      agree += 1;
    }
    continue;
  }
  if (entry.broken !== null) {
    pairs += 1;
    disagreements.push(`${file}: the native runner could not read it (${entry.broken}); wasm did`);
    continue;
  }
  const byFlag = new Map(results.map((r) => [r.flag, r]));
  for (const native of entry.pairs) {
    pairs += 1;
    const mine = byFlag.get(native.flag);
    if (!mine) {
      disagreements.push(`${file} ${native.flag}: not evaluated by wasm`);
    } else if (mine.actual !== native.actual) {
      disagreements.push(
        `${file} ${native.flag}: native ${native.actual} (${native.detail}), wasm ${mine.actual} (${mine.detail})`,
      );
    } else {
      agree += 1;
    }
    byFlag.delete(native.flag);
  }
  for (const extra of byFlag.keys()) {
    pairs += 1;
    disagreements.push(`${file} ${extra}: evaluated by wasm only`);
  }
}

for (const d of disagreements.slice(0, 50)) console.log(`DIFFERENT ${d}`);
console.log(
  `wasm vs native on dgc-testdata: ${agree}/${pairs} verdicts the same, ${files.size} files, ` +
    `${disagreements.length} different; wasm took ${wasmMs.toFixed(0)} ms in all`,
);
process.exit(disagreements.length === 0 ? 0 : 1);
