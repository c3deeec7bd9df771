"""Evaluation results and their three renderings: a console table (like the paper's tables),
JSON and Markdown.

JSON layout (accuracies as fractions, null where not measured)::

    {"model": {...},
     "results": {"<set path as given>": {"accuracy": 0.9967, "accuracy_std": 0.003,
                                          "mask_accuracy": 0.999, "images": 12000,
                                          "tar_at_far": {"1e-03": 0.98} | null,
                                          "threshold": 1.42 | null,
                                          "expected_mask": "unmasked" | "masked" | "label",
                                          "unmasked_copies": 27 | null,
                                          "wear_accuracy": 0.97 | null,
                                          "wear_class_accuracy": {"none": 1.0, ...} | null,
                                          "wear_confusion": [[...5 ints...] x 5] | null}}}

``unmasked_copies``: on a masked twin evaluated beside its original, the images whose bytes equal
the original's (faces ``maskgen augment`` could not mask), expected unmasked; null otherwise.
``wear_*`` are measured for a wear-class model on a ``.rec`` with wear labels: the share of faces
whose predicted class (argmax of ``wear_prob``) is the label's, per class of
``maskgen.masks.wear.WEAR_CLASSES`` (null for a class with no faces) and over all, and the
confusion matrix, rows = labelled class, columns = predicted class, in that class order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskgen.atomic import write_text_atomic
from maskgen.masks.wear import WEAR_CLASSES

__all__ = ["EvalReport", "SetResult"]


@dataclass(frozen=True)
class SetResult:
    """One evaluation set's figures. Accuracies are fractions; None where not measured (a rec
    set has no pairs; a model without a mask head has no mask accuracy)."""

    name: str
    images: int
    accuracy: float | None = None
    accuracy_std: float | None = None
    mask_accuracy: float | None = None
    tar_at_far: dict[str, float] | None = None
    threshold: float | None = None
    expected_mask: str = "unmasked"
    unmasked_copies: int | None = None
    wear_accuracy: float | None = None
    wear_class_accuracy: tuple[float | None, ...] | None = None
    wear_confusion: tuple[tuple[int, ...], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        per_class = (
            None
            if self.wear_class_accuracy is None
            else dict(zip(WEAR_CLASSES, self.wear_class_accuracy, strict=True))
        )
        confusion = None if self.wear_confusion is None else [list(r) for r in self.wear_confusion]
        return {
            "accuracy": self.accuracy,
            "accuracy_std": self.accuracy_std,
            "mask_accuracy": self.mask_accuracy,
            "images": self.images,
            "tar_at_far": self.tar_at_far,
            "threshold": self.threshold,
            "expected_mask": self.expected_mask,
            "unmasked_copies": self.unmasked_copies,
            "wear_accuracy": self.wear_accuracy,
            "wear_class_accuracy": per_class,
            "wear_confusion": confusion,
        }


@dataclass(frozen=True)
class EvalReport:
    """Every set's results for one model, in the order the sets were given."""

    results: tuple[SetResult, ...]
    model: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "results": {result.name: result.to_json() for result in self.results},
        }

    def write_json(self, path: str | Path) -> Path:
        return _write_text(Path(path), json.dumps(self.to_json(), indent=2) + "\n")

    def format_table(self) -> str:
        """A fixed-width table for the console: set, verification accuracy ± std (%), mask-usage
        accuracy (%), images."""
        header = ("Set", "Verification (%)", "Mask usage (%)", "Images")
        rows = [_row(result) for result in self.results]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest])

        rule = "  ".join("-" * w for w in widths)
        table = [line(header), rule, *(line(r) for r in rows)]
        table += _copies_notes(self.results)
        for result in self.results:
            table += _wear_block(result, markdown=False)
        return "\n".join(table)

    def format_markdown(self) -> str:
        """A GitHub-flavoured Markdown table of the same figures plus TAR at FAR."""
        fars = sorted({far for r in self.results for far in (r.tar_at_far or {})})
        header = ["Set", "Verification accuracy (%)", "Mask-usage accuracy (%)"]
        header += [f"TAR@FAR={far} (%)" for far in fars] + ["Images"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for result in self.results:
            verification, mask, images = _row(result)[1:]
            tars = [_percent((result.tar_at_far or {}).get(far)) for far in fars]
            cells = [f"`{result.name}`", verification, mask, *tars, images]
            lines.append("| " + " | ".join(cells) + " |")
        notes = [f"- {note}" for note in _copies_notes(self.results)]
        lines += ["", *notes] if notes else []
        for result in self.results:
            lines += _wear_block(result, markdown=True)
        title = self.model.get("path")
        intro = [f"Model: `{title}`", ""] if title else []
        return "\n".join([*intro, *lines]) + "\n"

    def write_markdown(self, path: str | Path) -> Path:
        return _write_text(Path(path), self.format_markdown())


def _percent(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{100.0 * value:.{digits}f}"


def _row(result: SetResult) -> tuple[str, str, str, str]:
    if result.accuracy is None:
        verification = "n/a"
    else:
        verification = f"{_percent(result.accuracy)} ± {_percent(result.accuracy_std)}"
    return (result.name, verification, _percent(result.mask_accuracy), str(result.images))


def _copies_notes(results: Sequence[SetResult]) -> list[str]:
    """A line per masked twin that holds copies of its originals: they were expected unmasked."""
    return [
        f"{r.name}: {r.unmasked_copies} of {r.images} images are their original's bytes "
        "(faces maskgen augment could not mask): expected unmasked"
        for r in results
        if r.unmasked_copies
    ]


def _wear_block(result: SetResult, *, markdown: bool) -> list[str]:
    """Lines of a set's wear-class figures (none without them): per-class accuracy (%) and the
    confusion matrix, rows = labelled class, columns = predicted class."""
    if result.wear_confusion is None or result.wear_class_accuracy is None:
        return []
    header = ["Labelled \\ predicted", *WEAR_CLASSES, "Accuracy (%)"]
    rows = [
        [name, *(str(v) for v in counts), _percent(accuracy)]
        for name, counts, accuracy in zip(
            WEAR_CLASSES, result.wear_confusion, result.wear_class_accuracy, strict=True
        )
    ]
    title = f"Wear classes of {result.name}: {_percent(result.wear_accuracy)} % right"
    if markdown:
        head = ["", f"{title}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return head + ["| " + " | ".join(r) + " |" for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        )
        for r in [header, *rows]
    ]  # as the main table: names to the left, figures to the right, two spaces between
    return ["", f"{title}:", *lines]


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` under a temporary name beside ``path`` and rename it into place."""
    return write_text_atomic(path, text)
