"""Writes small real image files and trees with PIL, for the data tests."""

import os

import numpy as np
from PIL import Image

# One solid color per class, so a test can tell from the pixels which class
# folder an image came from after it went through the pipeline.
CLASS_COLORS = [
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (128, 128, 128),
]

# kind -> (PIL mode, format, file extension)
KINDS = {
    "jpeg": ("RGB", "JPEG", ".jpg"),
    "jpeg_gray": ("L", "JPEG", ".jpg"),
    "jpeg_cmyk": ("CMYK", "JPEG", ".jpeg"),
    "png": ("RGB", "PNG", ".png"),
    "png_rgba": ("RGBA", "PNG", ".png"),
    "png_gray": ("L", "PNG", ".png"),
    "png_palette": ("P", "PNG", ".png"),
    "bmp": ("RGB", "BMP", ".bmp"),
    "bmp_palette": ("P", "BMP", ".bmp"),
    "bmp_1bit": ("1", "BMP", ".bmp"),
    "gif": ("P", "GIF", ".gif"),
}

BAD_KINDS = ("text", "empty", "truncated_jpeg", "png_bad_crc")


def write_image(path, kind="png", color=(255, 0, 0), size=(6, 5)):
    """Writes a solid-color image of `kind`; returns its path."""
    mode, image_format, _ = KINDS[kind]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.new("RGB", size, color)
    if mode == "P":
        image = image.quantize(colors=4)
    else:
        image = image.convert(mode)
    image.save(path, image_format)
    return str(path)


def write_bad(path, kind):
    """Writes an unreadable file of `kind` (see BAD_KINDS); returns its path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "text":
        with open(path, "w") as f:
            f.write("<html>404 Not Found</html>")
    elif kind == "empty":
        open(path, "wb").close()
    elif kind == "truncated_jpeg":
        # Noise compresses badly, so half the file cuts the pixel data.
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3))
        Image.fromarray(noise.astype(np.uint8)).save(path, "JPEG")
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
    elif kind == "png_bad_crc":
        Image.new("RGB", (6, 5), (1, 2, 3)).save(path, "PNG")
        data = bytearray(open(path, "rb").read())
        # Flip a bit of the compressed pixel data: the header stays valid,
        # only the IDAT chunk's CRC no longer matches.
        data[data.find(b"IDAT") + 4] ^= 0x01
        with open(path, "wb") as f:
            f.write(bytes(data))
    else:
        raise ValueError(f"Unknown bad kind {kind!r}. Valid: {BAD_KINDS}")
    return str(path)


def make_tree(root, domains, classes, per_class=1, kinds=("png",)):
    """Writes `root/<domain>/<class>/<i><ext>`, class c in CLASS_COLORS[c].

    `per_class` is an int or a dict class -> int; image i uses
    `kinds[i % len(kinds)]`. Returns the root as a str.
    """
    for domain in domains:
        for c, name in enumerate(classes):
            n = per_class[name] if isinstance(per_class, dict) else per_class
            for i in range(n):
                kind = kinds[i % len(kinds)]
                ext = KINDS[kind][2]
                write_image(
                    os.path.join(root, domain, name, f"{i:03d}{ext}"),
                    kind,
                    CLASS_COLORS[c % len(CLASS_COLORS)],
                )
    return str(root)
