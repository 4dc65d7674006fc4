// The ES module package (OUT/web of build.sh) as a third-party web app sees it: installed under
// node_modules by its package name, imported by that name, started, and called; its package.json
// and TypeScript declarations name what the app uses.
//
//   node verifier/wasm/package-test.mjs OUT/web
//
// Exits 1, saying what is wrong, on the first problem.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const pkgDir = resolve(process.argv[2] ?? "");
const fail = (why) => {
  console.error(`package test: ${why}`);
  process.exit(1);
};
if (!process.argv[2]) fail("usage: node package-test.mjs OUT/web");

const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
if (manifest.name !== "@vaxpass/verifier") fail(`package name ${manifest.name}`);
if (manifest.type !== "module") fail("package.json: type is not module");
if (!/^\d+\.\d+\.\d+/.test(manifest.version ?? "")) fail(`package.json: version ${manifest.version}`);
const root = manifest.exports?.["."];
if (!root?.types || !root?.default) fail("package.json: exports['.'] lacks types or default");
for (const f of [root.types, root.default, manifest.types, ...manifest.files]) {
  try {
    readFileSync(join(pkgDir, f));
  } catch {
    fail(`package.json names ${f}, which is not in ${pkgDir}`);
  }
}

// The declarations: every export the page and an app use, and the report types.
const dts = readFileSync(join(pkgDir, root.types), "utf8");
const declared = [
  /export class Verifier \{/,
  /addSigners\(data: Uint8Array\b[^)]*\): number;/,
  /loadTrustList\(list: Uint8Array\b[^)]*, now_ms: number, cached_sequence\?: bigint \| null\): string;/,
  /loadRevocations\(list: Uint8Array\b[^)]*\): string;/,
  /loadSignedRules\(set: Uint8Array\b[^)]*\): string;/,
  /loadRules\(rules: string, country: string\): number;/,
  /check\(text: string, now_ms: number\): string;/,
  /checkPicture\(picture: Uint8Array\b[^)]*, now_ms: number\): string;/,
  /signatureInput\(text: string\): SignatureInput \| undefined;/,
  /checkWithVerifiedSignature\(text: string, now_ms: number, signer: number\): string;/,
  /export class SignatureInput \{/,
  /export function decodePicture\(picture: Uint8Array\b[^)]*\): string;/,
  /export function decodeRgba\(rgba: Uint8Array\b[^)]*, width: number, height: number\): string;/,
  /export function conformanceCase\(/,
  /export default function __wbg_init ?\(/,
  /export function initSync\(/,
  /export interface CheckReport \{/,
  /export interface Failure \{/,
  /export interface RevocationReport \{/,
  /export interface TrustListReport \{/,
  /export interface RulesReport \{/,
];
for (const re of declared) if (!re.test(dts)) fail(`${root.types} does not declare ${re}`);

// Installed in an app's node_modules, imported by name.
const app = mkdtempSync(join(tmpdir(), "vaxpass-app-"));
try {
  const installed = join(app, "node_modules", "@vaxpass", "verifier");
  mkdirSync(installed, { recursive: true });
  cpSync(pkgDir, installed, { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", type: "module", private: true }));
  writeFileSync(
    join(app, "main.mjs"),
    `import { initSync, Verifier, decodeRgba } from "@vaxpass/verifier";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const wasm = readFileSync(require.resolve("@vaxpass/verifier/vaxpass_verifier_wasm_bg.wasm"));
initSync({ module: wasm });
const v = new Verifier();
const report = JSON.parse(v.check("HC1:NOT-A-CERTIFICATE", Date.now()));
let frame = null;
try { decodeRgba(new Uint8Array(4 * 4 * 4).fill(255), 4, 4); } catch (e) { frame = e.message; }
console.log(JSON.stringify({ valid: report.valid, code: report.failure?.code, frame }));
`,
  );
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync(process.execPath, [join(app, "main.mjs")], { cwd: app, encoding: "utf8" });
  const result = JSON.parse(out.trim().split("\n").pop());
  if (result.valid !== false || !result.code) fail(`a garbage code did not give a failure: ${out}`);
  if (!result.frame) fail("a blank frame decoded to something");
  console.log(
    `package test: @vaxpass/verifier ${manifest.version} imported by name from ${pathToFileURL(installed)}; ` +
      `${declared.length} declarations present; a garbage code reads ${result.code}`,
  );
} finally {
  rmSync(app, { recursive: true, force: true });
}
