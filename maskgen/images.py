"""Encoded images in and out: the one place maskgen turns bytes into pixel arrays and back.

Two views of an image:

- :func:`decode_rgb` gives (H, W, 3) uint8 RGB: what the face finder, the masker, the embedder
  and the trainer work on.
- :func:`read_stored` gives the pixels as the file stores them (grey or colour, with or without
  alpha, 8 or 16 bits) plus its format, so that a masked image goes back in its own format and
  layout: :func:`restore_layout` puts the masked RGB into the stored layout (alpha untouched,
  unchanged pixels bit for bit) and :func:`encode_stored` writes it.

OpenCV decodes and encodes where it can (it is fast, and applies EXIF orientation). Pillow reads
what OpenCV cannot (ICO, TGA, GIF before OpenCV 4.11, ...), says whether an image has alpha or
several frames, and writes GIF: OpenCV's GIF encoder uses a fixed palette (mean error 11.9 grey
levels on an LFW face against Pillow's adaptive palette's 1.2). Images are RGB inside maskgen;
BGR appears only at OpenCV's codec calls here.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from maskgen.decoder_messages import decoder_messages
from maskgen.errors import OutputError
from maskgen.types import Key


@dataclass(frozen=True)
class ImageFormat:
    """One image file format: how to recognise it and which library writes it.

    ``signatures`` are (offset, magic bytes); a format without one (TGA) is recognised only by
    its file name. ``opencv_suffix`` is the suffix ``cv2.imencode`` writes it under (None: not
    written with OpenCV); ``pillow`` is Pillow's name for it (None: Pillow does not know it).
    """

    name: str
    suffixes: tuple[str, ...]
    signatures: tuple[tuple[int, bytes], ...]
    opencv_suffix: str | None
    pillow: str | None


FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(
        "jpeg", (".jpg", ".jpeg", ".jpe", ".jfif"), ((0, b"\xff\xd8\xff"),), ".jpg", "JPEG"
    ),
    ImageFormat("png", (".png", ".apng"), ((0, b"\x89PNG\r\n\x1a\n"),), ".png", "PNG"),
    ImageFormat("bmp", (".bmp", ".dib"), ((0, b"BM"),), ".bmp", "BMP"),
    ImageFormat("webp", (".webp",), ((8, b"WEBP"),), ".webp", "WEBP"),
    ImageFormat("tiff", (".tif", ".tiff"), ((0, b"II*\0"), (0, b"MM\0*")), ".tif", "TIFF"),
    ImageFormat("gif", (".gif",), ((0, b"GIF87a"), (0, b"GIF89a")), None, "GIF"),
    ImageFormat(
        "jpeg2000",
        (".jp2", ".j2k", ".jpf", ".jpx"),
        ((0, b"\0\0\0\x0cjP  \r\n\x87\n"), (0, b"\xffO\xffQ")),
        ".jp2",
        "JPEG2000",
    ),
    ImageFormat(
        "pnm",
        (".pbm", ".pgm", ".ppm", ".pnm"),
        tuple((0, b"P" + bytes([digit])) for digit in b"123456"),
        ".pnm",
        "PPM",
    ),
    ImageFormat("sunraster", (".ras", ".sr"), ((0, b"\x59\xa6\x6a\x95"),), ".ras", "SUN"),
    ImageFormat("avif", (".avif",), ((4, b"ftypavif"), (4, b"ftypavis")), ".avif", "AVIF"),
    ImageFormat("ico", (".ico",), ((0, b"\0\0\1\0"),), None, "ICO"),
    ImageFormat("tga", (".tga",), (), None, "TGA"),
    ImageFormat("psd", (".psd",), ((0, b"8BPS"),), None, "PSD"),
)
"""Every format maskgen recognises. A decoded image whose format is not here (HDR, EXR, ...)
passes through unmasked with reason ``unsupported_format``."""

_BY_NAME = {fmt.name: fmt for fmt in FORMATS}
_BY_SUFFIX = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}
_BY_PILLOW = {fmt.pillow: fmt for fmt in FORMATS if fmt.pillow}
IMAGE_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)
"""Lower-case file suffixes of image files (a file without one may still hold an image)."""

_APPLE_DOUBLE_MAGIC = b"\x00\x05\x16\x07"
_ORIENTATION_TAG = 0x0112
_ANY = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH  # grey and 16 bits kept, EXIF orientation applied


def sniff_image_format(data: bytes) -> str | None:
    """The format name (``"jpeg"``, ``"png"``, ``"gif"``, ``"tiff"``, ...) from the leading
    bytes, else None.

    The bytes, not a file name, decide: RecordIO and .bin items have no name, and a masked
    image must be written back in the format it came in."""
    for fmt in FORMATS:
        for offset, magic in fmt.signatures:
            if data[offset : offset + len(magic)] == magic:
                if fmt.name == "webp" and data[:4] != b"RIFF":
                    continue
                return fmt.name
    return None


SNIFF_BYTES = 64
"""Leading bytes that hold every signature :func:`sniff_image_format` knows."""


def is_image_file(path: Path) -> bool:
    """Whether the file at ``path`` is named as an image (any suffix of :data:`IMAGE_SUFFIXES`)
    or, whatever its name, begins as one: photos without a suffix (hashed names, ``.dat``)
    are images too. False for a folder or a file that cannot be read."""
    if not path.is_file():
        return False
    if format_of_name(path) is not None:
        return True
    try:
        with open(path, "rb") as handle:
            return sniff_image_format(handle.read(SNIFF_BYTES)) is not None
    except OSError:
        return False


def format_of_name(name: str | Path | None) -> str | None:
    """The format a file name's suffix (any case) names, or None."""
    if name is None:
        return None
    fmt = _BY_SUFFIX.get(PurePosixPath(str(name)).suffix.lower())
    return fmt.name if fmt else None


def is_apple_double(data: bytes) -> bool:
    """Whether ``data`` is a macOS AppleDouble file (the ``._photo.jpg`` beside ``photo.jpg``
    holding its Finder metadata): not an image, whatever its name says."""
    return data[:4] == _APPLE_DOUBLE_MAGIC


@functools.lru_cache(maxsize=64)
def can_write(image_format: str) -> bool:
    """Whether OpenCV or Pillow here can write ``image_format``."""
    fmt = _BY_NAME.get(image_format)
    if fmt is None:
        return False
    if fmt.opencv_suffix and cv2.haveImageWriter("x" + fmt.opencv_suffix):
        return True
    return fmt.pillow is not None and fmt.pillow in _pillow_writers()


def writable_formats() -> list[str]:
    """Names of the formats :func:`encode_stored` can write here."""
    return [fmt.name for fmt in FORMATS if can_write(fmt.name)]


# --- the RGB view --------------------------------------------------------------------------------


def decode_rgb(data: bytes, name: str | None = None) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, or None where neither OpenCV nor Pillow can decode the bytes.

    16-bit images are reduced to 8 bits (the high byte), grey ones repeated over R, G and B,
    alpha dropped; EXIF orientation is applied. A multi-frame image gives its first frame.
    ``name`` (a file name) lets a format without a signature (TGA) be read, as in
    :func:`read_stored`."""
    return decode_rgb_and_said(data, name)[0]


def decode_rgb_and_said(
    data: bytes, name: str | None = None
) -> tuple[np.ndarray | None, str | None]:
    """:func:`decode_rgb`'s image and what libpng or libjpeg said while decoding it, as
    :attr:`StoredImage.decoder_said` (a damaged file that still decoded, where those lines are
    kept off stderr: :mod:`maskgen.decoder_messages`); None for either where there is none."""
    if not data:
        return None, None
    with decoder_messages(name) as said:
        bgr = _imdecode(data, cv2.IMREAD_COLOR)
    if bgr is not None:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), " ".join(said) or None
    stored = read_stored(data, name)
    if stored is None or not stored.maskable:
        return None, None
    return stored.rgb, stored.decoder_said


def read_rgb(path: str | Path) -> np.ndarray | None:
    """An image file as (H, W, 3) uint8 RGB, or None where it is missing or undecodable."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return decode_rgb(data, Path(path).name)


def is_cut_short_jpeg(data: bytes, name: str | None = None) -> bool:
    """Whether ``data`` is a JPEG that decodes only as one cut short (its end missing: an
    interrupted download or copy), as ``read_stored(..., cut_short=True)`` decodes it."""
    if sniff_image_format(data) != "jpeg" or read_stored(data, name) is not None:
        return False
    return read_stored(data, name, cut_short=True) is not None


# --- the stored view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredImage:
    """An image as its file stores it.

    ``pixels``: (H, W) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB or (H, W, 4) RGBA, uint8 or
    uint16 (other dtypes, e.g. float32 HDR, cannot be masked); EXIF orientation already applied.
    ``format``: a name from :data:`FORMATS`, or None where the decoder gave no name maskgen
    knows. ``multi_frame``: an animation or multi-page file; ``pixels`` is its first frame.
    ``decoder_said``: what libpng or libjpeg said while decoding it (a damaged file that still
    decoded: ``"Corrupt JPEG data: premature end of data segment"``), where those lines were
    kept off stderr (:mod:`maskgen.decoder_messages`); None where they said nothing or printed.
    """

    pixels: np.ndarray
    format: str | None
    multi_frame: bool = False
    decoder_said: str | None = None

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else int(self.pixels.shape[2])

    @property
    def maskable(self) -> bool:
        """8- or 16-bit pixels in one of the four layouts."""
        return self.pixels.dtype in (np.uint8, np.uint16) and self.channels in (1, 2, 3, 4)

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB for the masker: 16 bits reduced to the high byte (as OpenCV's
        IMREAD_COLOR does), grey repeated over R, G and B, alpha left out."""
        colour = self.pixels if self.pixels.ndim == 3 else self.pixels[:, :, None]
        colour = colour[:, :, :3] if self.channels >= 3 else colour[:, :, :1]
        if colour.dtype == np.uint16:
            colour = (colour >> 8).astype(np.uint8)
        if colour.shape[2] == 1:
            colour = np.repeat(colour, 3, axis=2)
        return np.ascontiguousarray(colour)

    @property
    def layout(self) -> str:
        """``"rgb 8-bit"``, ``"grey+alpha 16-bit"``, ...: what a format change would change."""
        return describe_layout(self.pixels)


def describe_layout(pixels: np.ndarray) -> str:
    """``"rgb+alpha 8-bit"`` and the like, for an array in the :class:`StoredImage` layouts."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    kind = "grey" if channels in (1, 2) else "rgb"
    alpha = "+alpha" if channels in (2, 4) else ""
    return f"{kind}{alpha} {pixels.dtype.itemsize * 8}-bit"


_CONVERTED_MODES = {
    "P": "palette",
    "PA": "palette+alpha",
    "1": "bilevel 1-bit",
    "CMYK": "cmyk 8-bit",
}
"""Pillow's modes of stored pixels that decoders hand maskgen converted (to RGB or grey), so
that a twin encoded from them has another layout, named here as a format change reads."""


def converted_mode_change(
    source: bytes, written: bytes, change: str | None, layout: str
) -> str | None:
    """``"palette -> rgb 8-bit"``, ``"cmyk 8-bit -> rgb 8-bit"`` where ``source`` is a
    palette, 1-bit or CMYK image (PNG, BMP, TIFF, JPEG, ...) and ``written`` is not: decoders
    hand maskgen such pixels as RGB or grey, and a twin is encoded from those, so without this
    the layout changed without a word. Else ``change`` as it was (``layout``, the written
    pixels' :func:`describe_layout`, stands for the right-hand side where ``change`` is
    None)."""
    before = _converted_mode(source)
    if before is None or _converted_mode(written) is not None:
        return change
    return f"{before} -> {change.rpartition(' -> ')[2] if change else layout}"


def _converted_mode(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _CONVERTED_MODES.get(image.mode)
    except Exception:  # not an image Pillow reads (OpenCV-only formats): none of these modes
        return None


def read_stored(
    data: bytes, name: str | None = None, *, cut_short: bool = False
) -> StoredImage | None:
    """The image in ``data`` as stored (see :class:`StoredImage`), or None where neither OpenCV
    nor Pillow can decode it.

    ``name`` (a file name) lets a format without a signature (TGA) be read where the name says
    so; without it only signatures count, so stray bytes are never taken for an image.
    ``cut_short``: a JPEG cut short (its end marker missing: an interrupted download or copy)
    is decoded as ``cv2.imread`` decodes it, what was there and the rest grey
    (:func:`_cut_short_jpeg`), with libjpeg's words in ``decoder_said``: a twin masks it and
    says so. Elsewhere (training, evaluation, ``align``) such a file stays undecodable."""
    if not data or is_apple_double(data):
        return None
    image_format = sniff_image_format(data)
    # A JPEG has no alpha and one frame, and OpenCV applies its orientation: Pillow is asked
    # only if OpenCV cannot decode it.
    header = None if image_format == "jpeg" else _pillow_header(data, name)
    if image_format is None and header is not None:
        image_format = _format_of_pillow(header)
    has_alpha = header is not None and _has_alpha(header)
    # Pillow refuses to open an image of more than twice its MAX_IMAGE_PIXELS (a decompression
    # bomb guard; OpenCV's own limit is 2**30 pixels): its layout then comes from OpenCV, which
    # keeps alpha and 16 bits as stored, where it dropped them
    unread = header is None and image_format not in (None, "jpeg")
    flags = cv2.IMREAD_UNCHANGED if has_alpha or unread else _ANY
    with decoder_messages(name) as said:  # the decode alone: other threads wait for it
        pixels = _imdecode(data, flags)
    pixels = _in_rgb_order(pixels)
    if pixels is None and cut_short and image_format == "jpeg":
        pixels, said = _cut_short_jpeg(data, flags, name)
    if pixels is not None and has_alpha and image_format != "tiff":
        # IMREAD_UNCHANGED keeps alpha but skips EXIF orientation (TIFF's decoder applies it).
        pixels = apply_orientation(pixels, _orientation(header))
    if pixels is None and image_format == "jpeg":
        header = _pillow_header(data, name)
    if pixels is None and header is not None:
        pixels = _pillow_pixels(header)
    if pixels is None:
        return None
    if pixels.ndim == 3 and pixels.shape[2] == 4 and _grey_with_alpha(data, header):
        pixels = pixels[:, :, [0, 3]]  # OpenCV expands grey + alpha to RGBA
    multi_frame = header is not None and bool(getattr(header, "is_animated", False))
    decoder_said = " ".join(said) or None
    return StoredImage(np.ascontiguousarray(pixels), image_format, multi_frame, decoder_said)


_JPEG_END = b"\xff\xd9"


def _imdecode(data: bytes, flags: int) -> np.ndarray | None:
    """``cv2.imdecode``, None where it fails (an error or no image)."""
    try:
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error:
        return None


def _cut_short_jpeg(
    data: bytes, flags: int, name: str | None
) -> tuple[np.ndarray | None, list[str]]:
    """A JPEG missing its end marker decoded with the marker added, and what libjpeg said then
    (only this attempt's words, not the failed first one's): OpenCV decoding from memory gives
    up at the end of the bytes, where its file reader (``cv2.imread``), as libjpeg's own
    tools, keeps what was there and fills the rest grey; with the marker added it decodes the
    same pixels, and libjpeg says "Corrupt JPEG data: premature end of data segment"."""
    if data.endswith(_JPEG_END):
        return None, []
    with decoder_messages(name) as said:
        pixels = _imdecode(data + _JPEG_END, flags)
    return _in_rgb_order(pixels), said


def _in_rgb_order(pixels: np.ndarray | None) -> np.ndarray | None:
    """OpenCV's decode (BGR, BGRA, grey, or None) in RGB(A) channel order."""
    if pixels is None:
        return None
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    return pixels


@functools.lru_cache(maxsize=1)
def _pillow_readers() -> frozenset[str]:
    Image.init()
    return frozenset(Image.OPEN)


def _pillow_header(data: bytes, name: str | None) -> Any:
    """Pillow's lazily opened image (headers read, pixels not), or None.

    Only formats with a signature are tried, plus the one the file name names: a format
    without a magic number (TGA) would otherwise take stray bytes for an image. Formats this
    Pillow lacks (AVIF before Pillow 11.2) are left out."""
    by_name = _BY_SUFFIX.get(PurePosixPath(name).suffix.lower()) if name else None
    formats = [
        fmt.pillow
        for fmt in FORMATS
        if fmt.pillow in _pillow_readers() and (fmt.signatures or fmt is by_name)
    ]
    try:
        return Image.open(io.BytesIO(data), formats=formats)
    except Exception:  # Pillow raises many kinds on damaged or foreign bytes; all mean "no"
        return None


def _format_of_pillow(header: Any) -> str | None:
    fmt = _BY_PILLOW.get(header.format)
    return fmt.name if fmt else None


def _has_alpha(header: Any) -> bool:
    return header.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in header.info


def _grey_with_alpha(data: bytes, header: Any) -> bool:
    """Whether the file stores grey + alpha. A PNG says so in its IHDR colour type (0 grey
    with a tRNS colour, 4 grey + alpha; PNG spec 11.2.2); Pillow reports 16-bit ones as RGBA."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) > 25:
        return data[25] in (0, 4)
    return header is not None and header.mode in ("LA", "La")


def _orientation(header: Any) -> int:
    """The EXIF orientation (1-8) in the headers Pillow has read, 1 if none (not decoding)."""
    raw = header.info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # a damaged EXIF block: show the pixels as stored
        return 1
    value = exif.get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """``pixels`` as they are meant to be seen, for an EXIF orientation 1-8 (EXIF 2.3, tag
    0x0112; e.g. 6: turn 90° clockwise, 8: 90° anticlockwise, 2-7 even: mirrored ones);
    the same as Pillow's ``ImageOps.exif_transpose``."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(transforms.get(orientation, transforms[1])(pixels))


_PILLOW_MODES: Mapping[str, str] = {
    "1": "L",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "RGB": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "I;16": "I;16",
    "I;16L": "I;16",
    "I;16B": "I;16",
    "I;16N": "I;16",
}


def _pillow_pixels(header: Any) -> np.ndarray | None:
    """The first frame, decoded by Pillow, in a :class:`StoredImage` layout (palette and other
    colour spaces become RGB, or RGBA where the image has transparency)."""
    try:
        mode = _PILLOW_MODES.get(header.mode) or ("RGBA" if _has_alpha(header) else "RGB")
        image = header.convert(mode) if header.mode != mode else header
        return np.asarray(ImageOps.exif_transpose(image))
    except Exception:  # truncated or damaged data, or a decoder Pillow lacks
        return None


# --- writing -------------------------------------------------------------------------------------


def restore_layout(stored: StoredImage, masked_rgb: np.ndarray) -> np.ndarray:
    """The masked (H, W, 3) uint8 RGB put back into ``stored``'s layout.

    Pixels the mask did not change keep their stored values bit for bit (16-bit detail, grey
    levels); changed pixels take the masked colour (grey images its luma, ITU-R BT.601 as
    ``cv2.COLOR_RGB2GRAY``; 16-bit images ``value * 257``, which maps 0-255 onto 0-65535).
    Alpha is never touched."""
    pixels = stored.pixels
    if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
        return masked_rgb
    changed = np.any(masked_rgb != stored.rgb, axis=2)
    colour = masked_rgb if stored.channels >= 3 else cv2.cvtColor(masked_rgb, cv2.COLOR_RGB2GRAY)
    if pixels.dtype == np.uint16:
        colour = colour.astype(np.uint16) * 257
    out = pixels.copy()
    if out.ndim == 2:
        out[changed] = colour[changed]
    elif stored.channels >= 3:
        out[:, :, :3][changed] = colour[changed]
    else:
        out[:, :, 0][changed] = colour[changed]
    return out


def _named(key: Key) -> str:
    """A key as an error names it: a file by its path, a dataset record as ``item 7``."""
    return str(key) if isinstance(key, str) else f"item {key!r}"


MAX_SIDE = {"ico": 256}
"""The largest side a format holds, where it is small: an ICO directory entry stores each side
in one byte (0 meaning 256), and Pillow's writer shrinks a larger image without a word."""


def encode_stored(
    pixels: np.ndarray, image_format: str, jpeg_quality: int, key: Key
) -> tuple[bytes, str | None]:
    """``pixels`` (a :class:`StoredImage` layout) encoded as ``image_format``; JPEG at
    ``jpeg_quality``. Returns the bytes and, where the format could not hold the layout (a
    16-bit image as JPEG, grey as WebP, ...), the change made, e.g. ``"rgb 16-bit -> rgb
    8-bit"``; None where the layout was kept.

    OutputError naming ``key`` where neither OpenCV nor Pillow can write the format, or the
    image is larger than the format holds (:data:`MAX_SIDE`)."""
    limit = MAX_SIDE.get(image_format)
    if limit is not None and max(pixels.shape[:2]) > limit:
        height, width = pixels.shape[:2]
        raise OutputError(
            f"{_named(key)}: an {image_format.upper()} image holds at most {limit}x{limit} "
            f"pixels, this one is {width}x{height}: choose another format (.png, .jpg, .webp)"
        )
    fmt = _BY_NAME.get(image_format)
    data = None
    if fmt is not None and fmt.opencv_suffix is not None:
        data = _opencv_encode(pixels, fmt.opencv_suffix, jpeg_quality)
    if data is None and fmt is not None and fmt.pillow in _pillow_writers():
        data = _pillow_encode(pixels, fmt.pillow, jpeg_quality)
    if data is None:
        raise OutputError(f"{_named(key)}: neither OpenCV nor Pillow can write {image_format}")
    if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
        return data, None  # every writer here keeps 8-bit RGB
    written = read_stored(data)
    if written is None:
        raise OutputError(f"{_named(key)}: the {image_format} just written does not decode")
    before, after = describe_layout(pixels), written.layout
    return data, None if before == after else f"{before} -> {after}"


def encode_image(rgb: np.ndarray, image_format: str, jpeg_quality: int, key: Key) -> bytes:
    """``rgb`` (H, W, 3) uint8 encoded as ``image_format``; JPEG at ``jpeg_quality``."""
    return encode_stored(rgb, image_format, jpeg_quality, key)[0]


def _opencv_encode(pixels: np.ndarray, suffix: str, jpeg_quality: int) -> bytes | None:
    """OpenCV's encoding, or None where it cannot write this layout (grey + alpha) or format."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels == 2 or not cv2.haveImageWriter("x" + suffix):
        return None
    array = np.ascontiguousarray(pixels)
    if channels == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if suffix == ".jpg" else []
    try:
        ok, buffer = cv2.imencode(suffix, array, params)
    except cv2.error:
        return None
    return buffer.tobytes() if ok else None


def _pillow_encode(pixels: np.ndarray, pillow_format: str, jpeg_quality: int) -> bytes | None:
    """Pillow's encoding, or None. Pillow holds 16 bits only for grey (and not in every
    format), so 16 bits it cannot save are written at 8 (the high byte), which
    :func:`encode_stored` then reports."""
    array = np.ascontiguousarray(pixels)
    if array.dtype == np.uint16 and array.ndim == 3:
        array = (array >> 8).astype(np.uint8)
    data = _pillow_save(array, pillow_format, jpeg_quality)
    if data is None and array.dtype == np.uint16:
        data = _pillow_save((array >> 8).astype(np.uint8), pillow_format, jpeg_quality)
    return data


def _pillow_save(array: np.ndarray, pillow_format: str, jpeg_quality: int) -> bytes | None:
    options: dict[str, Any] = {"quality": int(jpeg_quality)} if pillow_format == "JPEG" else {}
    if pillow_format == "ICO":  # else Pillow stores its standard sizes only: 250x250 -> 128x128
        options["sizes"] = [(array.shape[1], array.shape[0])]
    buffer = io.BytesIO()
    try:
        Image.fromarray(array).save(buffer, format=pillow_format, **options)
    except Exception:  # Pillow raises OSError, ValueError, KeyError... for modes it cannot save
        return None
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def _pillow_writers() -> frozenset[str]:
    Image.init()
    return frozenset(Image.SAVE)
