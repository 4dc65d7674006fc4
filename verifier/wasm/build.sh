#!/usr/bin/env bash
# Builds the browser verifier, optimised for size: verifier/wasm → OUT/web (an npm package: ES
# module, TypeScript types, package.json; for pages, bundlers and third-party web apps),
# OUT/node (CommonJS, for Node and the conformance run) and OUT/site (the page of
# verifier/wasm/www with OUT/web as pkg/: what `vaxpass-issuer serve --verifier-dir OUT/site`
# serves at /verify/, or what any static web server hosts).
#   bash verifier/wasm/build.sh OUT
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli of the version in Cargo.lock
# (`cargo install wasm-bindgen-cli --version 0.2.130`). Prints the sizes. No wasm-opt: Debian's
# binaryen 108 rewrites the externref table wasm-bindgen 0.2.130 emits into one the module
# cannot start with (`WebAssembly.Table.set(): Argument 1 is invalid`), and it saved 13 %
# gzip only; the size is within the goal without it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: build.sh OUT}"
target_dir="${CARGO_TARGET_DIR:-target}"

want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')"
if [[ "$have" != "$want" ]]; then
  echo "error: wasm-bindgen $want is needed (found: ${have:-none}); cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

cargo build --locked --profile wasm --target wasm32-unknown-unknown -p vaxpass-verifier-wasm
wasm="$target_dir/wasm32-unknown-unknown/wasm/vaxpass_verifier_wasm.wasm"
rm -rf "$out/web" "$out/node" "$out/site"
wasm-bindgen --target web --out-dir "$out/web" "$wasm"
wasm-bindgen --target nodejs --out-dir "$out/node" "$wasm"

# The ES module as a package a third-party app installs (`npm install OUT/web`) and imports;
# its types are the .d.ts wasm-bindgen writes (the report types are declared in lib.rs).
version="$(awk -F'"' '/^version = / { print $2; exit }' verifier/wasm/Cargo.toml)"
cat >"$out/web/package.json" <<EOF
{
  "name": "@vaxpass/verifier",
  "version": "$version",
  "description": "vaxpass offline verifier of EU Digital COVID Certificates in WebAssembly: signatures, trust list, revocation list, rules, QR decoding",
  "license": "Apache-2.0",
  "type": "module",
  "main": "./vaxpass_verifier_wasm.js",
  "types": "./vaxpass_verifier_wasm.d.ts",
  "exports": {
    ".": {
      "types": "./vaxpass_verifier_wasm.d.ts",
      "default": "./vaxpass_verifier_wasm.js"
    },
    "./vaxpass_verifier_wasm_bg.wasm": "./vaxpass_verifier_wasm_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "vaxpass_verifier_wasm.js",
    "vaxpass_verifier_wasm.d.ts",
    "vaxpass_verifier_wasm_bg.wasm",
    "vaxpass_verifier_wasm_bg.wasm.d.ts"
  ],
  "sideEffects": false
}
EOF

# The page, with the module under pkg/.
mkdir -p "$out/site"
cp -R verifier/wasm/www/. "$out/site/"
cp -R "$out/web" "$out/site/pkg"
f="$out/web/vaxpass_verifier_wasm_bg.wasm"
echo "wasm verifier: $(wc -c <"$f") bytes, $(gzip -9 -c "$f" | wc -c) bytes gzip ($f)"
