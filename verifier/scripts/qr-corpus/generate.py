#!/usr/bin/env python3
"""Generate the QR/Aztec picture corpus (deterministic, seeded) from real certificates.

Usage: generate.py [--out DIR] [--seed N] [--scale F]

Writes DIR/<class>/<n>.<ext> and DIR/manifest.tsv (file, class, params, expected text index) and
DIR/texts.txt (one HC1 text a line). The texts are the PREFIX fields of the public dgc-testdata
(../../../../shared/conformance/dgc-testdata from this script, or $VAXPASS_DGC_TESTDATA).

Needs: pip install segno zxing-cpp pillow numpy
"""
import argparse
import glob
import io
import json
import os
import random
import sys

import numpy as np
import segno
import zxingcpp
from PIL import Image, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "../../../../shared/conformance/dgc-testdata"))


def load_texts(data_dir):
    texts = []
    for path in sorted(glob.glob(os.path.join(data_dir, "**/2DCode/raw/*.json"), recursive=True)):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        prefix = doc.get("PREFIX") if isinstance(doc, dict) else None
        if isinstance(prefix, str) and prefix.startswith("HC1:"):
            texts.append(prefix)
    return sorted(set(texts))


# ---- encoders: each returns a boolean module matrix (True = dark), no quiet zone ----

def enc_segno(text, ecc):
    qr = segno.make_qr(text, error=ecc.lower(), boost_error=False)
    return np.array([[bool(v) for v in row] for row in qr.matrix], dtype=bool)


def enc_zxing(text, ecc, fmt="qr"):
    if fmt == "qr":
        b = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=ecc)
    else:
        b = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Aztec, ec_level=ecc)
    img = np.array(b.to_image(scale=1, add_quiet_zones=False))
    return img < 128


def render(modules, px, quiet, dark=0, light=255):
    """Grey picture: `px` pixels a module, `quiet` modules of quiet zone."""
    m = np.pad(modules, quiet, constant_values=False)
    img = np.where(m, dark, light).astype(np.uint8)
    return np.kron(img, np.ones((px, px), dtype=np.uint8))


def to_pil(a):
    return Image.fromarray(a)


def save(img, path, fmt, quality=90):
    if fmt == "jpg":
        img.convert("RGB").save(path, "JPEG", quality=quality)
    else:
        img.save(path, "PNG")


def perspective_coeffs(src, dst):
    """Coefficients for PIL's PERSPECTIVE transform mapping dst corners to src corners."""
    a = []
    b = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    return np.linalg.solve(np.array(a, dtype=float), np.array(b, dtype=float)).tolist()


def words(name):
    return [w.lower() for w in name.replace("-", " ").replace("_", " ").replace(".", " ").split()]


def names_match(a, b):
    """The conformance runner's rule: one name's words appear side by side among the other's."""
    a, b = words(a), words(b)

    def contains(long, short):
        return bool(short) and any(long[i:i + len(short)] == short for i in range(len(long) - len(short) + 1))

    return contains(a, b) or contains(b, a)


def add_dgc_testdata(data_dir, out, texts, manifest):
    """Every picture of dgc-testdata with a known PREFIX: 2DCODE fields and png/ folders."""
    import base64
    index = {t: i for i, t in enumerate(texts)}
    for cls in ("dgc-2dcode", "dgc-png"):
        os.makedirs(os.path.join(out, cls), exist_ok=True)
    n = 0
    for path in sorted(glob.glob(os.path.join(data_dir, "**/2DCode/raw/*.json"), recursive=True)):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        prefix = doc.get("PREFIX") if isinstance(doc, dict) else None
        if prefix not in index:
            continue
        rel = os.path.relpath(path, data_dir)
        pic = doc.get("2DCODE") or doc.get("_2DCODE")
        if isinstance(pic, str):
            try:
                raw = base64.b64decode("".join(pic.split()))
            except ValueError:
                raw = None
            if raw:
                name = f"dgc-2dcode/{n:04d}.png"
                n += 1
                with open(os.path.join(out, name), "wb") as f:
                    f.write(raw)
                manifest.append((name, "dgc-2dcode", rel, index[prefix]))
        stem = os.path.splitext(os.path.basename(path))[0]
        code_dir = os.path.dirname(os.path.dirname(path))
        pictures = []
        for folder in (os.path.join(os.path.dirname(code_dir), "png"), os.path.join(code_dir, "png")):
            if os.path.isdir(folder):
                pictures += [os.path.join(folder, p) for p in sorted(os.listdir(folder))
                             if p.lower().endswith((".png", ".jpg", ".jpeg"))]
        exact = [p for p in pictures if os.path.splitext(os.path.basename(p))[0].lower() == stem.lower()]
        loose = [p for p in pictures if names_match(stem, os.path.splitext(os.path.basename(p))[0])]
        chosen = exact[0] if exact else (loose[0] if len(loose) == 1 else None)
        if chosen:
            ext = os.path.splitext(chosen)[1].lower().lstrip(".")
            name = f"dgc-png/{n:04d}.{ext}"
            n += 1
            with open(chosen, "rb") as src, open(os.path.join(out, name), "wb") as f:
                f.write(src.read())
            manifest.append((name, "dgc-png", os.path.relpath(chosen, data_dir), index[prefix]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every class's count")
    ap.add_argument("--data", default=os.environ.get("VAXPASS_DGC_TESTDATA", DEFAULT_DATA))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    texts = load_texts(args.data)
    if not texts:
        sys.exit(f"no HC1 texts found below {args.data}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "texts.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    manifest = []

    def count(n):
        return max(1, int(round(n * args.scale)))

    def pick():
        i = rng.randrange(len(texts))
        return i, texts[i]

    def modules(text, fmt="qr"):
        if fmt == "aztec":
            return enc_zxing(text, rng.choice(["23%", "33%", "50%"]), "aztec"), "zxing-aztec"
        ecc = rng.choice("LMQH")
        enc = rng.choice(["segno", "zxing"])
        m = enc_segno(text, ecc) if enc == "segno" else enc_zxing(text, ecc)
        return m, f"{enc}-{ecc}"

    def emit(cls, n, img, fmt, params, idx, quality=90):
        d = os.path.join(args.out, cls)
        os.makedirs(d, exist_ok=True)
        name = f"{cls}/{n:04d}.{fmt}"
        save(img, os.path.join(args.out, name), fmt, quality)
        manifest.append((name, cls, params, idx))

    # clean: quiet zone 0-4, 1-8 px a module, every ECC level, two encoders
    for n in range(count(60)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(1, 8), rng.randint(0, 4)
        emit("clean", n, to_pil(render(m, px, q)), "png", f"{enc} px={px} quiet={q}", idx)
    # inverted colours
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(2, 8), rng.randint(0, 4)
        emit("inverted", n, to_pil(render(m, px, q, dark=255, light=0)), "png", f"{enc} px={px} quiet={q}", idx)
    # RGBA with transparency: dark modules on a transparent background (some semi-transparent)
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(2, 8), rng.randint(0, 4)
        g = render(m, px, q)
        alpha_bg = rng.choice([0, 0, 40])
        rgba = np.zeros(g.shape + (4,), dtype=np.uint8)
        colour = rng.choice([(0, 0, 0), (20, 40, 120)])
        rgba[..., 0], rgba[..., 1], rgba[..., 2] = colour
        rgba[..., 3] = np.where(g < 128, 255, alpha_bg)
        emit("rgba", n, Image.fromarray(rgba, "RGBA"), "png", f"{enc} px={px} quiet={q} bg-alpha={alpha_bg}", idx)
    # palette PNGs
    for n in range(count(20)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(1, 6), rng.randint(0, 4)
        img = to_pil(render(m, px, q)).convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=rng.choice([2, 16, 256]))
        emit("palette", n, img, "png", f"{enc} px={px} quiet={q}", idx)
    # grey and coloured backgrounds, coloured modules
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(2, 6), rng.randint(1, 4)
        g = render(m, px, q) > 128
        bg = np.array(rng.choice([(200, 200, 200), (255, 240, 200), (180, 220, 255), (150, 150, 150), (255, 200, 200)]), dtype=np.uint8)
        fg = np.array(rng.choice([(0, 0, 0), (0, 60, 140), (90, 0, 0), (40, 40, 40)]), dtype=np.uint8)
        rgb = np.where(g[..., None], bg, fg).astype(np.uint8)
        margin = rng.randint(0, 60)
        rgb = np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
        emit("background", n, Image.fromarray(rgb, "RGB"), "png", f"{enc} px={px} quiet={q} bg={bg.tolist()}", idx)
    # rotation over the full circle
    for n in range(count(40)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(3, 8), rng.randint(1, 4)
        angle = rng.uniform(0, 360)
        img = to_pil(render(m, px, q)).rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
        emit("rotation", n, img, "png", f"{enc} px={px} quiet={q} angle={angle:.1f}", idx)
    # perspective skew
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(4, 8), 4
        img = to_pil(render(m, px, q))
        w, h = img.size
        pad = int(w * 0.3)
        canvas = Image.new("L", (w + 2 * pad, h + 2 * pad), 255)
        canvas.paste(img, (pad, pad))
        s = rng.uniform(0.05, 0.25) * w
        src = [(pad, pad), (pad + w, pad), (pad + w, pad + h), (pad, pad + h)]
        dst = [(x + rng.uniform(-s, s), y + rng.uniform(-s, s)) for x, y in src]
        coeffs = perspective_coeffs(src, dst)
        out = canvas.transform(canvas.size, Image.PERSPECTIVE, coeffs, Image.BILINEAR, fillcolor=255)
        emit("perspective", n, out, "png", f"{enc} px={px} skew={s / w:.2f}", idx)
    # blur
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(3, 8), rng.randint(1, 4)
        sigma = rng.uniform(0.2, 0.6) * px
        img = to_pil(render(m, px, q)).filter(ImageFilter.GaussianBlur(sigma))
        emit("blur", n, img, "png", f"{enc} px={px} sigma={sigma:.2f}", idx)
    # JPEG quality 30-90
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(2, 6), rng.randint(0, 4)
        quality = rng.randint(30, 90)
        emit("jpeg", n, to_pil(render(m, px, q)), "jpg", f"{enc} px={px} quiet={q} q={quality}", idx, quality)
    # noise
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px, q = rng.randint(3, 8), rng.randint(1, 4)
        sd = rng.uniform(10, 60)
        g = render(m, px, q).astype(float)
        nrng = np.random.default_rng(rng.randrange(1 << 30))
        g = np.clip(g + nrng.normal(0, sd, g.shape), 0, 255).astype(np.uint8)
        emit("noise", n, to_pil(g), "png", f"{enc} px={px} sd={sd:.0f}", idx)
    # the code occupying 10-100 % of a 1-12 MP picture
    for n in range(count(24)):
        idx, t = pick()
        m, enc = modules(t)
        mp = rng.uniform(1, 12)
        W = int((mp * 1e6 * 4 / 3) ** 0.5)
        H = int(W * 3 / 4)
        share = rng.uniform(0.1, 1.0)  # of the picture's area, for the code with its quiet zone
        side = int((share * W * H) ** 0.5)
        side = min(side, H)
        q = 4
        px = max(1, side // (m.shape[0] + 2 * q))
        code = to_pil(render(m, px, q))
        bgc = rng.randint(180, 255)
        canvas = Image.new("L", (W, H), bgc)
        canvas.paste(code, (rng.randint(0, W - code.size[0]), rng.randint(0, H - code.size[1])))
        fmt = "jpg"
        emit("scale", n, canvas, fmt, f"{enc} {W}x{H} share={share:.2f} px={px}", idx, 88)
    # two codes in one picture: a link first, the certificate second (order shuffled)
    for n in range(count(20)):
        idx, t = pick()
        m, enc = modules(t)
        other = enc_segno("https://example.org/vaccination/info?lang=vi&ref=%d" % n, "M")
        px = rng.randint(3, 6)
        a = to_pil(render(m, px, 4))
        b = to_pil(render(other, px * 2, 4))
        W = a.size[0] + b.size[0] + 40
        H = max(a.size[1], b.size[1]) + 40
        canvas = Image.new("L", (W, H), 255)
        first, second = (b, a) if rng.random() < 0.5 else (a, b)
        canvas.paste(first, (20, 20))
        canvas.paste(second, (20 + first.size[0], 20))
        emit("two-codes", n, canvas, "png", f"{enc} px={px}", idx)
    # Aztec: clean, rotated, JPEG, transparent
    for n in range(count(40)):
        idx, t = pick()
        m, enc = modules(t, "aztec")
        px, q = rng.randint(1, 6), rng.randint(0, 4)
        img = to_pil(render(m, px, q))
        kind = rng.choice(["clean", "rotated", "jpeg", "inverted"])
        fmt, quality = "png", 90
        if kind == "rotated":
            img = img.rotate(rng.uniform(0, 360), resample=Image.BILINEAR, expand=True, fillcolor=255)
        elif kind == "jpeg":
            fmt, quality = "jpg", rng.randint(40, 90)
        elif kind == "inverted":
            img = to_pil(render(m, px, q, dark=255, light=0))
        emit("aztec", n, img, fmt, f"{enc} {kind} px={px} quiet={q}", idx, quality)
    # phone photo of paper: rotation + skew + blur + uneven light + noise + JPEG, in a larger frame
    for n in range(count(30)):
        idx, t = pick()
        m, enc = modules(t)
        px = rng.randint(4, 8)
        img = to_pil(render(m, px, 4, dark=30, light=235))
        w, h = img.size
        pad = int(w * 0.4)
        canvas = Image.new("L", (w + 2 * pad, h + 2 * pad), 225)
        canvas.paste(img, (pad, pad))
        s = rng.uniform(0.02, 0.15) * w
        src = [(pad, pad), (pad + w, pad), (pad + w, pad + h), (pad, pad + h)]
        dst = [(x + rng.uniform(-s, s), y + rng.uniform(-s, s)) for x, y in src]
        canvas = canvas.transform(canvas.size, Image.PERSPECTIVE, perspective_coeffs(src, dst), Image.BILINEAR, fillcolor=225)
        canvas = canvas.rotate(rng.uniform(0, 360), resample=Image.BILINEAR, expand=False, fillcolor=225)
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
        g = np.asarray(canvas).astype(float)
        yy, xx = np.mgrid[0:g.shape[0], 0:g.shape[1]]
        light = 1.0 - 0.35 * (xx / g.shape[1]) * rng.random()
        nrng = np.random.default_rng(rng.randrange(1 << 30))
        g = np.clip(g * light + nrng.normal(0, rng.uniform(3, 15), g.shape), 0, 255).astype(np.uint8)
        emit("photo", n, to_pil(g), "jpg", f"{enc} px={px}", idx, rng.randint(40, 85))

    add_dgc_testdata(args.data, args.out, texts, manifest)

    with open(os.path.join(args.out, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write("file\tclass\tparams\ttext\n")
        for name, cls, params, idx in manifest:
            f.write(f"{name}\t{cls}\t{params}\t{idx}\n")
    print(f"{len(manifest)} pictures, {len(texts)} texts, in {args.out}")


if __name__ == "__main__":
    main()
