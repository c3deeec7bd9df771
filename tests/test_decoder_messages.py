"""maskgen.decoder_messages: libpng's and libjpeg's own lines (written by C straight to file
descriptor 2) kept off stderr around a decode in the main thread where asked, logged at debug
level naming the file; left alone elsewhere. Damaged files are made here from a real photo."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import cv2
import pytest

from maskgen.decoder_messages import QUIET_ENV, decoder_messages
from maskgen.images import decode_rgb, read_stored

pytestmark = pytest.mark.shared

LIBPNG_LINE = "libpng error: PNG input buffer is incomplete"


@pytest.fixture(scope="module")
def cut_png(lfw_dir: Path) -> bytes:
    """A PNG of an LFW photo missing its last 30 bytes (its IEND chunk and some pixels):
    OpenCV cannot decode it, and its libpng says so on descriptor 2."""
    photo = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    return cv2.imencode(".png", photo)[1].tobytes()[:-30]


def test_a_damaged_png_prints_nothing_and_is_logged_with_its_name(
    cut_png: bytes,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(QUIET_ENV, "1")
    with caplog.at_level(logging.DEBUG, logger="maskgen.decoder_messages"):
        read_stored(cut_png, "cut.png")
    assert LIBPNG_LINE not in capfd.readouterr().err
    said = [r.getMessage() for r in caplog.records if LIBPNG_LINE in r.getMessage()]
    assert said and said[0].startswith("cut.png: the decoder said: libpng error"), said


def test_without_the_variable_the_line_prints_as_before(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(QUIET_ENV, raising=False)
    assert decode_rgb(cut_png) is None
    assert LIBPNG_LINE in capfd.readouterr().err


def test_another_thread_does_not_swap_descriptor_2(
    cut_png: bytes, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A swap is process-wide: made from a decoding thread it would take the main thread's
    lines (a progress bar) too, so only the main thread swaps."""
    monkeypatch.setenv(QUIET_ENV, "1")
    thread = threading.Thread(target=decode_rgb, args=(cut_png,))
    thread.start()
    thread.join()
    assert LIBPNG_LINE in capfd.readouterr().err


def test_what_was_caught_before_a_failure_is_printed_after_it(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt (or any exception) in the window: the caught lines explain it, so they go
    to stderr as they came; the descriptor is restored either way."""
    monkeypatch.setenv(QUIET_ENV, "1")
    with pytest.raises(KeyboardInterrupt), decoder_messages("x.png"):
        os.write(2, b"decoder: about to fail\n")
        raise KeyboardInterrupt
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "decoder: about to fail\nafter\n"
