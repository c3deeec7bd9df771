"""One photo in, one masked photo out: the library side of ``maskgen mask``."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from maskgen.atomic import write_bytes_atomic
from maskgen.decoder_messages import warn_decoder_said
from maskgen.errors import DatasetFormatError, OutputError, no_such_file
from maskgen.faces.landmarks import ALIGNED_CROP_WORDS, is_small_square_crop
from maskgen.formats.folder import image_format_of
from maskgen.images import converted_mode_change, describe_layout, encode_stored, read_stored
from maskgen.pipeline.step import mask_sample
from maskgen.types import ItemResult, Sample

logger = logging.getLogger(__name__)


def mask_file(
    input_path: Path,
    output_path: Path,
    *,
    masker,
    seed: int = 0,
    jpeg_quality: int = 95,
) -> ItemResult:
    """Mask every face in a photo and write it to ``output_path`` in the format its suffix
    names. The random draw is keyed on the file name, as ``maskgen augment`` keys an image at
    the top of a folder, so the two commands give the same mask for the same seed.

    A photo with no face is written unchanged (converted where the suffix names another
    format); the returned row says why. Alpha, grey and 16 bits are kept where the output
    format holds them; the row's ``format_change`` says what changed where it does not.
    A damaged photo that still decodes (a JPEG cut short: grey below the damage) is masked
    as it decodes, and a warning names it with the decoder's words (where they were caught:
    :mod:`maskgen.decoder_messages`); a warning names a whole photo given to
    ``face_mode="aligned"`` too, whose mask lands where an aligned crop's face would be.

    Raises:
        DatasetFormatError: ``input_path`` is not a file, or not an image maskgen reads.
        OutputError: ``output_path`` is ``input_path``.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise no_such_file(input_path)
    if output_path.resolve() == input_path.resolve():
        raise OutputError(f"{output_path}: the output would overwrite the input")
    out_format = image_format_of(output_path)
    data = input_path.read_bytes()
    # Decoded once: libjpeg complains of a damaged JPEG at each decode.
    stored = read_stored(data, input_path.name, cut_short=True)
    if stored is None:
        raise DatasetFormatError(f"{input_path}: not an image OpenCV or Pillow can read")
    if said := stored.decoder_said:
        warn_decoder_said(logger, str(input_path), said)
    if masker.face_mode == "aligned" and not is_small_square_crop(*stored.pixels.shape[:2]):
        height, width = stored.pixels.shape[:2]
        logger.warning(
            f"%s: %dx%d is not an aligned crop ({ALIGNED_CROP_WORDS}): face mode 'aligned' "
            "masks it where an aligned crop's face would be; for a whole photo use face mode "
            "'auto', the default",
            input_path,
            width,
            height,
        )
    sample = Sample(key=input_path.name, data=data, name=input_path.name)
    twin, result = mask_sample(sample, masker, seed=seed, jpeg_quality=jpeg_quality, stored=stored)
    assert result is not None  # images always get a row
    if result.masked:  # the twin is our own encoding: read back for its layout
        stored = read_stored(twin.data, input_path.name)
        assert stored is not None  # encoded by us
    payload, change = twin.data, result.format_change
    if stored.format != out_format:
        if not stored.maskable:
            raise DatasetFormatError(
                f"{input_path}: {stored.pixels.dtype} pixels cannot be written as {out_format}"
            )
        payload, change = encode_stored(stored.pixels, out_format, jpeg_quality, sample.key)
        change = converted_mode_change(data, payload, change, describe_layout(stored.pixels))
        if stored.multi_frame:
            change = "; ".join(filter(None, ["multi-frame -> first frame only", change]))
    write_bytes_atomic(output_path, payload)
    return dataclasses.replace(result, format_change=change)
