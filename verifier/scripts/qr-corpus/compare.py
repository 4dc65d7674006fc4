#!/usr/bin/env python3
"""Decode the corpus with vaxpass (the qr_corpus example) and zxing-cpp in the same run, and
print decode rates per distortion class.

Usage: compare.py [--corpus DIR] [--bin PATH] [--subset N]

--bin: the built example (default: $CARGO_TARGET_DIR/release/examples/qr_corpus). Build it with
  cargo build --release -p vaxpass-verifier --features qr-image --example qr_corpus
--subset N: only the first N pictures of each class (for CI).
Exit status 1 when vaxpass's rate is below zxing-cpp's overall or in any class.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(HERE, "out"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "../../../target"))
    ap.add_argument("--bin", default=os.path.join(target, "release/examples/qr_corpus"))
    ap.add_argument("--subset", type=int, default=0)
    args = ap.parse_args()
    try:
        import numpy as np
        import zxingcpp
        from PIL import Image
    except ImportError as e:
        print(f"SKIPPED: zxing-cpp reference not installed ({e}); pip install zxing-cpp pillow numpy")
        return 0
    with open(os.path.join(args.corpus, "texts.txt"), encoding="utf-8") as f:
        texts = f.read().splitlines()
    rows = []
    with open(os.path.join(args.corpus, "manifest.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            file, cls, params, idx = line.rstrip("\n").split("\t")
            rows.append((file, cls, params, int(idx)))
    if args.subset:
        seen = collections.Counter()
        kept = []
        for r in rows:
            seen[r[1]] += 1
            if seen[r[1]] <= args.subset:
                kept.append(r)
        rows = kept
    # The manifest the Rust side reads: the same rows.
    with tempfile.TemporaryDirectory() as tmp:
        sub = os.path.join(tmp, "manifest.tsv")
        with open(sub, "w", encoding="utf-8") as f:
            f.write("file\tclass\tparams\ttext\n")
            for r in rows:
                f.write("\t".join(map(str, r)) + "\n")
        os.symlink(os.path.join(os.path.abspath(args.corpus), "texts.txt"), os.path.join(tmp, "texts.txt"))
        for r in rows:
            d = os.path.join(tmp, os.path.dirname(r[0]))
            os.makedirs(d, exist_ok=True)
            dst = os.path.join(tmp, r[0])
            if not os.path.exists(dst):
                os.symlink(os.path.join(os.path.abspath(args.corpus), r[0]), dst)
        out = subprocess.run([args.bin, tmp], check=True, capture_output=True, text=True).stdout
    ours = {}
    for line in out.splitlines():
        file, verdict, micros, detail = line.split("\t", 3)
        ours[file] = (verdict == "ok", int(micros), detail)

    # zxing-cpp, as the EU apps' ZXing would be used: default options (try harder, rotate, invert).
    theirs = {}
    for file, cls, params, idx in rows:
        start = time.perf_counter()
        ok = False
        try:
            img = Image.open(os.path.join(args.corpus, file))
            img.load()
            if img.mode in ("RGBA", "LA", "P"):
                img = img.convert("RGBA")
                bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, img)
            arr = np.asarray(img.convert("L"))
            found = zxingcpp.read_barcodes(arr, formats=zxingcpp.BarcodeFormat.QRCode | zxingcpp.BarcodeFormat.Aztec)
            ok = any(b.text == texts[idx] for b in found)
        except Exception as e:  # a picture zxing-cpp cannot take counts as not read
            print(f"zxing-cpp: {file}: {e}", file=sys.stderr)
        theirs[file] = (ok, int((time.perf_counter() - start) * 1e6))

    by_class = collections.OrderedDict()
    for file, cls, _, _ in rows:
        by_class.setdefault(cls, []).append(file)
    worse = []
    print(f"| class | pictures | vaxpass | zxing-cpp | vaxpass median ms | zxing-cpp median ms |")
    print(f"|---|---|---|---|---|---|")

    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] / 1000 if xs else 0

    total_o = total_t = 0
    for cls, files in list(by_class.items()) + [("all", [r[0] for r in rows])]:
        o = sum(ours.get(f, (False, 0, ""))[0] for f in files)
        t = sum(theirs[f][0] for f in files)
        n = len(files)
        print(f"| {cls} | {n} | {o} ({100 * o / n:.0f} %) | {t} ({100 * t / n:.0f} %) | "
              f"{med([ours.get(f, (0, 0, ''))[1] for f in files]):.1f} | {med([theirs[f][1] for f in files]):.1f} |")
        if o < t:
            worse.append(cls)
    misses = [(f, ours[f][2]) for f in ours if not ours[f][0]]
    if misses:
        print("\nnot read by vaxpass:")
        for f, d in misses:
            print(f"  {f}: {d}  (zxing-cpp: {'read' if theirs[f][0] else 'not read'})")
    if worse:
        print(f"\nvaxpass below zxing-cpp in: {', '.join(worse)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
