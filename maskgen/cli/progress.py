"""The CLI's progress bars (tqdm, on stderr): shown on a terminal unless ``-q``, with log
records written above them rather than into their line.

A bar asks about the terminal once, when made; made while a decoding thread holds descriptor 2
(:mod:`maskgen.decoder_messages`) it would find a file there. So what it needs from the
terminal is asked before any decoding starts: whether stderr is one, and its width.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def progress_bar(*, quiet: bool, **kwargs: Any) -> Iterator[Any]:
    """A tqdm bar (``kwargs`` as tqdm's: ``desc``, ``unit``, ``total``, ...) for the block, off
    where ``quiet`` or stderr is not a terminal, with logging redirected above it. Where the
    block raises, the bar is cleared (its half-done line stood above the error); where it ends
    short of a total that was only a bound (a folder's non-image files counted), the bar ends
    full at what was done."""
    from tqdm import tqdm  # here: the CLI's start-up does without it
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(tqdm_class=tqdm):
        bar = tqdm(disable=quiet or None, **kwargs)
        try:
            yield bar
        except BaseException:
            bar.leave = False
            raise
        else:
            if bar.total is not None and bar.n < bar.total:
                bar.total = bar.n
                bar.refresh()
        finally:
            bar.close()


class SetBars:
    """One bar per set (``maskgen eval``), made as each set starts. Whether stderr is a terminal,
    and its width, are asked once, here, before any decoding (see the module docstring): a bar
    made later, while a decoding thread held descriptor 2, stayed hidden or ten columns wide."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.columns = None if self.quiet else _stderr_columns()
        self.bars: dict[str, Any] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        """``done`` more images of set ``name`` (of ``total``) are embedded."""
        if self.quiet:
            return
        from tqdm import tqdm

        if name not in self.bars:
            self.bars[name] = tqdm(
                total=total, desc=name, unit="img", leave=False, ncols=self.columns
            )
        self.bars[name].update(done)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _stderr_columns() -> int | None:
    """The terminal's width on stderr, None where it cannot be read (tqdm's own default)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return None
