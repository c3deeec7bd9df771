"""Wording shared by maskgen's messages and summary lines."""

from __future__ import annotations


def count_of(n: int, noun: str, *, grouped: bool = False) -> str:
    """``"1 image"``, ``"3 images"`` (messages said "1 images", "1 cores"); ``grouped``:
    thousands separated, ``"300,000 steps"``. Regular plurals only (``noun + "s"``)."""
    number = f"{n:,}" if grouped else str(n)
    return f"{number} {noun}" if n == 1 else f"{number} {noun}s"
