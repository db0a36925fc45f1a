"""Tests for the bad-file scan: what each mode catches, raise and skip."""

import logging

import pytest

from keras_gs.data import image_check

# image_files.py lies beside this file (pytest puts tests/data on the path).
from image_files import write_bad
from image_files import write_image


@pytest.fixture
def files(tmp_path):
    good = write_image(str(tmp_path / "good.jpg"), "jpeg_cmyk")
    bad = {
        kind: write_bad(str(tmp_path / f"{kind}.png"), kind)
        for kind in ("text", "empty", "png_bad_crc")
    }
    truncated = write_bad(str(tmp_path / "cut.jpg"), "truncated_jpeg")
    return good, bad, truncated


def test_header_check(files):
    good, bad, truncated = files
    checked = image_check.check_images([good, truncated, *bad.values()])
    assert sorted(checked.bad) == sorted(bad.values())
    assert checked.formats[good] == ("JPEG", "CMYK")
    # Its header is intact: only the full check sees the missing data.
    assert truncated in checked.formats
    assert "checksum" in checked.bad[bad["png_bad_crc"]]


def test_full_check_catches_truncated_jpeg(files):
    good, bad, truncated = files
    checked = image_check.check_images(
        [good, truncated, *bad.values()], mode="full", num_threads=2
    )
    assert sorted(checked.bad) == sorted([truncated, *bad.values()])
    assert "truncated" in checked.bad[truncated]


def test_none_mode_and_bad_mode(files):
    good, bad, _ = files
    checked = image_check.check_images([good, bad["text"]], mode="none")
    assert checked.bad == {}
    assert checked.formats == {good: None, bad["text"]: None}
    with pytest.raises(ValueError, match=r"mode='fast'.*Valid: header"):
        image_check.check_images([good], mode="fast")


def test_raise_lists_every_bad_path(files):
    _, bad, _ = files
    checked = image_check.check_images(bad.values())
    with pytest.raises(ValueError) as error:
        image_check.handle_bad_images(checked.bad, "raise")
    message = str(error.value)
    assert "Found 3 unreadable" in message
    for path in bad.values():
        assert path in message
    assert "on_bad_image='skip'" in message


def test_skip_reports_count(files, caplog):
    _, bad, _ = files
    checked = image_check.check_images(bad.values())
    with caplog.at_level(logging.WARNING, logger="keras_gs"):
        skipped = image_check.handle_bad_images(checked.bad, "skip")
    assert skipped == sorted(bad.values())
    assert "Skipping 3 unreadable" in caplog.text
    assert image_check.handle_bad_images({}, "raise") == []
    with pytest.raises(ValueError, match=r"on_bad_image='ignore'"):
        image_check.handle_bad_images({}, "ignore")
