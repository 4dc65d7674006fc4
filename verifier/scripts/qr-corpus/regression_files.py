#!/usr/bin/env python3
"""Write the small hard cases committed in verifier/tests/data/qr/ (run once; deterministic)."""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import DEFAULT_DATA, enc_segno, enc_zxing, load_texts, render  # noqa: E402

out = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/data/qr"))
os.makedirs(out, exist_ok=True)
text = load_texts(DEFAULT_DATA)[0]
with open(os.path.join(out, "expected.txt"), "w") as f:
    f.write(text + "\n")
m = enc_segno(text, "M")
Image.fromarray(render(enc_zxing(text, "33%", "aztec"), 2, 1)).save(os.path.join(out, "aztec.png"))
Image.fromarray(render(m, 1, 0)).save(os.path.join(out, "quiet0-px1.png"))
Image.fromarray(render(m, 2, 2, dark=255, light=0)).save(os.path.join(out, "inverted.png"))
Image.fromarray(render(m, 3, 0, dark=255, light=0)).save(os.path.join(out, "inverted-quiet0.png"))
g = render(m, 2, 2)
rgba = np.zeros(g.shape + (4,), dtype=np.uint8)
rgba[..., 3] = np.where(g < 128, 255, 0)
Image.fromarray(rgba, "RGBA").save(os.path.join(out, "rgba-transparent.png"))
link = render(enc_segno("https://example.org/vaccination/info?lang=vi", "M"), 4, 4)
code = render(m, 2, 4)
H = max(link.shape[0], code.shape[0])
canvas = np.full((H, link.shape[1] + code.shape[1]), 255, dtype=np.uint8)
canvas[: link.shape[0], : link.shape[1]] = link
canvas[: code.shape[0], link.shape[1]:] = code
Image.fromarray(canvas).save(os.path.join(out, "two-codes-link-first.png"))
for name in sorted(os.listdir(out)):
    print(name, os.path.getsize(os.path.join(out, name)))
