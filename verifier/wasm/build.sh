#!/usr/bin/env bash
# Builds the browser verifier: verifier/wasm → OUT/web (ES module + TypeScript types, for pages
# and bundlers) and OUT/node (CommonJS, for Node and the conformance run), optimised for size.
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
rm -rf "$out/web" "$out/node"
wasm-bindgen --target web --out-dir "$out/web" "$wasm"
wasm-bindgen --target nodejs --out-dir "$out/node" "$wasm"
f="$out/web/vaxpass_verifier_wasm_bg.wasm"
echo "wasm verifier: $(wc -c <"$f") bytes, $(gzip -9 -c "$f" | wc -c) bytes gzip ($f)"
