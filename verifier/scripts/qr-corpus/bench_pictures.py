#!/usr/bin/env python3
"""Write the pictures of the speed and bounds figures (deterministic) into DIR (default out/bench):

  frame-640x480.jpg   a camera frame: the code at 4 px a module, slight rotation, JPEG 80
  photo-1mp.jpg       1 MP (1155x866) photo-like picture, code at ~40 % of the height
  photo-12mp.jpg      12 MP (4000x3000) photo-like picture, code at ~30 % of the height
  noise-2000.png      2000x2000 1-bit noise PNG (hostile: ~500 KB)
  noise-3000.png      3000x3000 1-bit noise PNG (hostile)
  huge-8000.jpg       8000x8000 JPEG (a smooth gradient, so a small file)
  truncated-8000.jpg  under 1 KB: a JPEG whose header declares 8000x8000x3, cut after the scan start
"""
import io
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import DEFAULT_DATA, enc_segno, load_texts, render  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "out/bench")
os.makedirs(out, exist_ok=True)
text = load_texts(os.environ.get("VAXPASS_DGC_TESTDATA", DEFAULT_DATA))[0]
m = enc_segno(text, "Q")
rng = np.random.default_rng(15)


def photo(W, H, share, angle, name, quality):
    side = int(H * share)
    px = max(1, side // (m.shape[0] + 8))
    code = Image.fromarray(render(m, px, 4, dark=35, light=230)).rotate(angle, Image.BILINEAR, expand=True, fillcolor=230)
    canvas = Image.new("L", (W, H), 210)
    canvas.paste(code, ((W - code.size[0]) // 3, (H - code.size[1]) // 2))
    g = np.asarray(canvas.filter(ImageFilter.GaussianBlur(0.8))).astype(float)
    g = np.clip(g + rng.normal(0, 6, g.shape), 0, 255).astype(np.uint8)
    Image.fromarray(g).convert("RGB").save(os.path.join(out, name), "JPEG", quality=quality)


photo(640, 480, 0.6, 7, "frame-640x480.jpg", 80)
photo(1155, 866, 0.4, 12, "photo-1mp.jpg", 85)
photo(4000, 3000, 0.3, 5, "photo-12mp.jpg", 88)
for n in (2000, 3000):
    bits = rng.integers(0, 2, (n, n), dtype=np.uint8) * 255
    Image.fromarray(bits).convert("1").save(os.path.join(out, f"noise-{n}.png"), "PNG")
grad = np.add.outer(np.arange(8000) // 32, np.arange(8000) // 32).astype(np.uint8)
Image.fromarray(grad).save(os.path.join(out, "huge-8000.jpg"), "JPEG", quality=50)
buf = io.BytesIO()
Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "JPEG")
j = bytearray(buf.getvalue())
sof = j.index(b"\xff\xc0")
j[sof + 5:sof + 7] = (8000).to_bytes(2, "big")
j[sof + 7:sof + 9] = (8000).to_bytes(2, "big")
sos = j.index(b"\xff\xda")
with open(os.path.join(out, "truncated-8000.jpg"), "wb") as f:
    f.write(bytes(j[:sos + 20]))
for name in sorted(os.listdir(out)):
    print(f"{name}\t{os.path.getsize(os.path.join(out, name))} bytes")
