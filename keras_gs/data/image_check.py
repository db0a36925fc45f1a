"""`check_images`: finds unreadable image files once, before training."""

import concurrent.futures
import dataclasses
import logging
import os
from collections.abc import Sequence

from PIL import Image

from keras_gs.utils.choices import check_choice


logger = logging.getLogger("keras_gs")

CHECK_MODES = ("header", "full", "none")
ON_BAD_IMAGE = ("raise", "skip")

# How many bad files an error message lists before "... and N more".
_MAX_LISTED = 100


@dataclasses.dataclass(frozen=True)
class ImageCheck:
    """What `check_images` found.

    Args:
        bad: dict mapping the path of each unreadable file to the reason.
        formats: dict mapping each readable path to its `(format, mode)` as
            PIL reports them (e.g. `("JPEG", "CMYK")`), or to `None` when the
            check was skipped.
    """

    bad: dict[str, str]
    formats: dict[str, tuple[str, str] | None]


def check_images(
    paths: Sequence[str],
    mode: str = "header",
    num_threads: int | None = None,
) -> ImageCheck:
    """Opens every image once, in parallel threads, and reports bad files.

    `mode="header"` (fast, about 0.1 ms per file) opens each file with PIL
    and calls `Image.verify()`. It catches files that are not images at
    all (text, HTML error pages, zero bytes), unknown or unsupported
    formats, damaged headers, and in PNG files any chunk whose CRC does not
    match (PIL's PNG `verify` reads the whole file). It does **not** decode
    pixel data, so a JPEG or GIF cut short after its header passes: TF then
    fails on it mid-training ("Invalid JPEG data").

    `mode="full"` also decodes the pixels, which catches truncated and
    corrupted image data. JPEGs are decoded in PIL's draft mode (DCT scaled
    by 1/8), which still walks all of the compressed data, so it costs
    about 1 ms per 500x375 JPEG instead of about 2 ms.

    `mode="none"` checks nothing (every file is reported readable, format
    unknown).

    Args:
        paths: sequence of str, the image files.
        mode: str, one of `"header"`, `"full"`, `"none"`. Defaults to
            `"header"`.
        num_threads: int or None, threads opening files; `None` uses
            `min(32, 4 * os.cpu_count())` (the work is mostly waiting on
            file reads). Defaults to `None`.

    Returns:
        An `ImageCheck`.
    """
    check_choice(mode, CHECK_MODES, "mode", "image check mode")
    paths = [os.fspath(p) for p in paths]
    if mode == "none":
        return ImageCheck(bad={}, formats={p: None for p in paths})
    if num_threads is None:
        num_threads = min(32, 4 * (os.cpu_count() or 1))
    check = _check_full if mode == "full" else _check_header
    with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
        results = list(pool.map(check, paths))
    bad, formats = {}, {}
    for path, (info, error) in zip(paths, results):
        if error is None:
            formats[path] = info
        else:
            bad[path] = error
    return ImageCheck(bad=bad, formats=formats)


def handle_bad_images(bad: dict[str, str], on_bad_image: str) -> list[str]:
    """Raises on bad files, or logs and returns them to be skipped.

    Args:
        bad: dict of path -> reason, from `ImageCheck.bad`.
        on_bad_image: str, `"raise"` to stop with the list of bad files,
            `"skip"` to log how many are skipped and go on.

    Returns:
        The sorted list of bad paths (empty when there are none).
    """
    check_choice(on_bad_image, ON_BAD_IMAGE, "on_bad_image", "bad-image policy")
    paths = sorted(bad)
    if not paths:
        return []
    if on_bad_image == "raise":
        listed = "\n".join(f"  {p}: {bad[p]}" for p in paths[:_MAX_LISTED])
        more = len(paths) - _MAX_LISTED
        if more > 0:
            listed += f"\n  ... and {more} more"
        raise ValueError(
            f"Found {len(paths)} unreadable image file(s):\n{listed}\n"
            "Fix or delete them, or pass on_bad_image='skip' to leave them "
            "out."
        )
    logger.warning(
        "Skipping %d unreadable image file(s), e.g. %s", len(paths), paths[0]
    )
    return paths


def _check_header(path):
    try:
        with Image.open(path) as image:
            info = (image.format, image.mode)
            image.verify()
        return info, None
    except Exception as error:  # PIL raises many types; all mean "bad".
        return None, _reason(error)


def _check_full(path):
    try:
        with Image.open(path) as image:
            info = (image.format, image.mode)
            if image.format == "JPEG":
                scaled = (max(1, image.width // 8), max(1, image.height // 8))
                image.draft(image.mode, scaled)
            image.load()
        return info, None
    except Exception as error:  # PIL raises many types; all mean "bad".
        return None, _reason(error)


def _reason(error):
    return f"{type(error).__name__}: {error}"
