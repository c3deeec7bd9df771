"""One photo in, one masked photo out: the library side of ``maskgen mask``."""

from __future__ import annotations

from pathlib import Path

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import DatasetFormatError, OutputError
from maskgen.formats.folder import image_format_of
from maskgen.images import decode_rgb, encode_image, sniff_image_format
from maskgen.pipeline.step import mask_sample
from maskgen.types import ItemResult, Sample


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

    A photo with no face is written unchanged; the returned row says why.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise DatasetFormatError(f"{input_path}: no such file")
    if output_path.resolve() == input_path.resolve():
        raise OutputError(f"{output_path}: the output would overwrite the input")
    out_format = image_format_of(output_path)
    data = input_path.read_bytes()
    if decode_rgb(data) is None:
        raise DatasetFormatError(f"{input_path}: not an image OpenCV can decode")
    twin, result = mask_sample(
        Sample(key=input_path.name, data=data), masker, seed=seed, jpeg_quality=jpeg_quality
    )
    if sniff_image_format(twin.data) != out_format:
        twin_rgb = decode_rgb(twin.data)
        assert twin_rgb is not None  # decoded above, or encoded by us
        payload = encode_image(twin_rgb, out_format, jpeg_quality, input_path.name)
    else:
        payload = twin.data
    write_bytes_atomic(output_path, payload)
    assert result is not None  # images always get a row
    return result
