#!/usr/bin/env bash
# Runs the fuzz targets for a time or an execution budget each and prints, per target, the
# executions, the coverage libFuzzer reached (edges, features) and the crashes it found.
#
#   verifier/fuzz/run.sh [--seconds S] [--runs N] [--merge] [--out DIR] [TARGET ...]
#
# --seconds S   stop each target after S seconds (default 60)
# --runs N      stop each target after N executions (whichever of the two comes first)
# --merge       afterwards, replace libFuzzer's finds in corpus/TARGET by the smallest set of
#               inputs that keeps all the coverage reached (-merge=1), to be committed
# --out DIR     where the working corpora, the logs, the crash artifacts and summary.tsv go
#               (default /var/tmp/vaxpass-fuzz)
# TARGET        default: every [[bin]] of Cargo.toml
#
# Needs a nightly toolchain (`rustup toolchain list`) and cargo-fuzz (`cargo install
# cargo-fuzz`). The targets are built without a sanitizer (the code under test is safe Rust;
# a sanitizer would halve the executions) and with debug assertions, so that an arithmetic
# overflow is a crash. A crash's input is kept as OUT/artifacts/TARGET/crash-*; make each one a
# regression test before fixing it.
set -euo pipefail
cd "$(dirname "$0")"

seconds=60
runs=-1
merge=0
out=/var/tmp/vaxpass-fuzz
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --merge) merge=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^vaxpass-verifier-fuzz$')
fi

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/vaxpass-fuzz-target}"
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"
cargo +nightly fuzz build --sanitizer none --debug-assertions >&2
bin_dir="$CARGO_TARGET_DIR/$triple/release"

mkdir -p "$out"
summary="$out/summary.tsv"
printf 'target\tseconds\texecutions\texec_per_s\tedges\tfeatures\tcorpus\tcrashes\n' >"$summary"
status=0
for t in "${targets[@]}"; do
  work="$out/corpus/$t"
  art="$out/artifacts/$t"
  log="$out/$t.log"
  mkdir -p "$work" "$art" "corpus/$t"
  start=$(date +%s)
  # -close_fd_mask=1: the targets print nothing worth keeping; the statistics go to stderr.
  set +e
  "$bin_dir/$t" "$work" "corpus/$t" \
    -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$art/" >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  feats=$(grep -o 'ft: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  crashes=$(find "$art" -type f | wc -l)
  rate=$(( ${execs:-0} / (took > 0 ? took : 1) ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$took" "${execs:-?}" "$rate" "${edges:-?}" \
    "${feats:-?}" "${corp:-?}" "$crashes" >>"$summary"
  if ((rc != 0)) || ((crashes > 0)); then
    echo "run.sh: $t stopped with status $rc and $crashes artifact(s) in $art (log: $log)" >&2
    status=1
  fi
  if ((merge)); then
    # The smallest set of inputs that covers what the committed corpus and this run reached:
    # the named seeds stay as they are; libFuzzer's finds (named by their SHA-1) are replaced.
    min="$out/min/$t"
    rm -rf "$min" && mkdir -p "$min"
    if "$bin_dir/$t" -merge=1 -close_fd_mask=1 -max_len=65536 "$min" "corpus/$t" "$work" >>"$log" 2>&1; then
      find "corpus/$t" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
      declare -A seed=()
      for f in "corpus/$t"/*; do [[ -f "$f" ]] && seed[$(sha1sum <"$f" | cut -c1-40)]=1; done
      for f in "$min"/*; do
        [[ -f "$f" && -z "${seed[$(basename "$f")]:-}" ]] && cp "$f" "corpus/$t/"
      done
      unset seed
    else
      echo "run.sh: merging the corpus of $t failed (log: $log)" >&2
    fi
  fi
done
column -t -s $'\t' "$summary"
exit "$status"
