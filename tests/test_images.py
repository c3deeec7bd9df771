"""maskgen.images: every format OpenCV or Pillow reads, in the layout it is stored in, and
written back in it (alpha, grey, 16 bits), or the change said. Inputs are built here from a
real LFW photo (or tiny arrays where only the codec is under test)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from maskgen.errors import OutputError
from maskgen.images import (
    apply_orientation,
    can_write,
    decode_rgb,
    encode_stored,
    format_of_name,
    is_apple_double,
    read_stored,
    restore_layout,
    sniff_image_format,
)

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)


def pillow_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def opencv_bytes(rgb_or_grey: np.ndarray, suffix: str) -> bytes:
    array = rgb_or_grey
    if array.ndim == 3:
        code = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        array = cv2.cvtColor(array, code)
    ok, buffer = cv2.imencode(suffix, array)
    assert ok
    return buffer.tobytes()


def png_grey_alpha_16(grey: np.ndarray, alpha: np.ndarray) -> bytes:
    """A 16-bit grey + alpha PNG (colour type 4) written byte by byte: neither OpenCV nor
    Pillow writes one."""
    height, width = grey.shape
    rows = np.dstack([grey, alpha]).astype(">u2").reshape(height, width * 2)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def face(lfw_dir: Path) -> np.ndarray:
    """A real LFW photo, (250, 250, 3) uint8 RGB."""
    bgr = cv2.imread(str(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.shared
def test_every_layout_is_read_as_stored(face: np.ndarray) -> None:
    picture = Image.fromarray(face)
    alpha = np.full(face.shape[:2], 255, np.uint8)
    alpha[:40, :40] = 0
    deep = face.astype(np.uint16) * 257 + 3
    cases = {
        "rgba.png": (opencv_bytes(np.dstack([face, alpha]), ".png"), "rgb+alpha 8-bit", "png"),
        "deep.png": (opencv_bytes(deep, ".png"), "rgb 16-bit", "png"),
        "grey.png": (pillow_bytes(picture.convert("L"), "PNG"), "grey 8-bit", "png"),
        "grey.jpg": (pillow_bytes(picture.convert("L"), "JPEG"), "grey 8-bit", "jpeg"),
        "la.png": (pillow_bytes(picture.convert("LA"), "PNG"), "grey+alpha 8-bit", "png"),
        "palette.png": (pillow_bytes(picture.convert("P"), "PNG"), "rgb 8-bit", "png"),
        "face.gif": (pillow_bytes(picture, "GIF"), "rgb 8-bit", "gif"),
        "deep.tif": (opencv_bytes(deep, ".tif"), "rgb 16-bit", "tiff"),
        "face.ico": (pillow_bytes(picture.resize((64, 64)), "ICO"), "rgb 8-bit", "ico"),
        "face.tga": (pillow_bytes(picture, "TGA"), "rgb 8-bit", "tga"),
    }
    for name, (data, layout, image_format) in cases.items():
        stored = read_stored(data, name)
        assert stored is not None, name
        assert (stored.layout, stored.format, stored.multi_frame) == (layout, image_format, False)
        assert stored.rgb.shape[2] == 3 and stored.rgb.dtype == np.uint8
    rgba = read_stored(cases["rgba.png"][0])
    assert np.array_equal(rgba.pixels[:, :, 3], alpha)
    assert np.array_equal(rgba.pixels[:, :, :3], face)
    assert np.array_equal(read_stored(cases["deep.png"][0]).pixels, deep)
    assert np.array_equal(read_stored(cases["deep.png"][0]).rgb, face)  # the high byte


@pytest.mark.shared
def test_animations_and_multi_page_files_are_flagged(face: np.ndarray) -> None:
    picture = Image.fromarray(face)
    turned = picture.rotate(8)
    for fmt in ("GIF", "TIFF", "PNG", "WEBP"):
        data = pillow_bytes(picture, fmt, save_all=True, append_images=[turned])
        stored = read_stored(data)
        assert stored is not None and stored.multi_frame, fmt
        assert not read_stored(pillow_bytes(picture, fmt)).multi_frame, fmt


def test_what_is_not_an_image_reads_as_none() -> None:
    tga = pillow_bytes(Image.new("RGB", (8, 8), (10, 20, 30)), "TGA")
    assert read_stored(tga, "logo.tga") is not None
    assert read_stored(tga) is None  # no signature: taken for an image only where named so
    assert read_stored(b"") is None
    assert read_stored(b"just some text\n", "notes.txt") is None
    assert read_stored(APPLE_DOUBLE, "._photo.jpg") is None
    assert is_apple_double(APPLE_DOUBLE) and not is_apple_double(b"\xff\xd8\xff\xe0")
    assert sniff_image_format(b"GIF89a....") == "gif"
    assert sniff_image_format(b"II*\0....") == sniff_image_format(b"MM\0*") == "tiff"
    assert sniff_image_format(b"RIFF\0\0\0\0AVI LIST") is None
    assert format_of_name("a/b.TIFF") == "tiff" and format_of_name("notes.txt") is None


@pytest.mark.shared
def test_decode_rgb_reads_what_only_pillow_reads(face: np.ndarray) -> None:
    ico = pillow_bytes(Image.fromarray(face).resize((64, 64)), "ICO")
    assert cv2.imdecode(np.frombuffer(ico, np.uint8), cv2.IMREAD_COLOR) is None
    rgb = decode_rgb(ico)
    assert rgb is not None and rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert decode_rgb(b"not an image") is None and decode_rgb(b"") is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillows_exif_transpose(orientation: int) -> None:
    pixels = np.arange(3 * 5 * 4, dtype=np.uint8).reshape(3, 5, 4)
    image = Image.fromarray(pixels, "RGBA")
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    image.getexif()[0x0112] = orientation
    expected = np.asarray(ImageOps.exif_transpose(image))
    assert np.array_equal(apply_orientation(pixels, orientation), expected)


@pytest.mark.shared
def test_alpha_images_are_turned_upright_like_opaque_ones(face: np.ndarray) -> None:
    """OpenCV skips EXIF orientation where it keeps alpha; maskgen turns the pixels itself, so
    an RGBA PNG taken sideways is masked upright, as its RGB twin would be."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = np.ascontiguousarray(np.rot90(face, 1))
    alpha = np.full(sideways.shape[:2], 200, np.uint8)
    rgba = pillow_bytes(Image.fromarray(np.dstack([sideways, alpha])), "PNG", exif=exif)
    rgb = pillow_bytes(Image.fromarray(sideways), "PNG", exif=exif)
    assert np.array_equal(read_stored(rgba).pixels[:, :, :3], face)
    assert np.array_equal(read_stored(rgb).pixels, face)


@pytest.mark.shared
def test_restore_layout_changes_only_masked_pixels_and_never_alpha(face: np.ndarray) -> None:
    masked = face.copy()
    masked[150:200, 80:170] = (40, 90, 200)  # a "mask"
    changed = np.zeros(face.shape[:2], bool)
    changed[150:200, 80:170] = True
    alpha = np.linspace(0, 255, face.shape[1]).astype(np.uint8)[None, :].repeat(250, 0)
    deep = face.astype(np.uint16) * 256 + np.uint16(91)  # detail below the 8 bits

    rgba = restore_layout(read_stored(opencv_bytes(np.dstack([face, alpha]), ".png")), masked)
    assert np.array_equal(rgba[:, :, 3], alpha)
    assert np.array_equal(rgba[:, :, :3], masked)

    out = restore_layout(read_stored(opencv_bytes(deep, ".png")), masked)
    assert out.dtype == np.uint16
    assert np.array_equal(out[~changed], deep[~changed])  # bit for bit outside the mask
    assert np.array_equal(out[changed], masked[changed].astype(np.uint16) * 257)

    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    out = restore_layout(read_stored(opencv_bytes(grey, ".png")), masked)
    assert out.shape == grey.shape and np.array_equal(out[~changed], grey[~changed])
    assert np.all(out[changed] == cv2.cvtColor(masked, cv2.COLOR_RGB2GRAY)[changed])


@pytest.mark.shared
def test_encoding_keeps_the_layout_or_says_what_changed(face: np.ndarray) -> None:
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    deep = face.astype(np.uint16) * 257
    alpha = np.full(face.shape[:2], 128, np.uint8)
    binary_alpha = np.where(np.arange(250)[None, :] < 30, 0, 255).repeat(250, 0).astype(np.uint8)
    kept = [
        (deep, "png"),
        (deep, "tiff"),
        (grey, "png"),
        (grey, "jpeg"),
        (np.dstack([face, alpha]), "png"),
        (np.dstack([face, alpha]), "webp"),
        (np.dstack([face, binary_alpha]), "gif"),  # GIF: transparent or not
        (np.dstack([grey, alpha]), "png"),
        (face, "gif"),
        (face, "tiff"),
    ]
    for pixels, image_format in kept:
        data, change = encode_stored(pixels, image_format, 95, "k")
        assert change is None, (image_format, change)
        assert sniff_image_format(data) == image_format
        stored = read_stored(data)
        assert stored.pixels.shape == pixels.shape and stored.pixels.dtype == pixels.dtype
        if image_format in ("png", "tiff"):
            assert np.array_equal(stored.pixels, pixels)  # lossless
    assert encode_stored(deep, "jpeg", 95, "k")[1] == "rgb 16-bit -> rgb 8-bit"
    assert encode_stored(np.dstack([face, alpha]), "gif", 95, "k")[1] == (
        "rgb+alpha 8-bit -> rgb 8-bit"  # half-transparent: GIF holds no such thing
    )
    assert encode_stored(grey, "webp", 95, "k")[1] == "grey 8-bit -> rgb 8-bit"
    grey_alpha = np.dstack([grey, alpha]).astype(np.uint16) * 257
    assert encode_stored(grey_alpha, "png", 95, "k")[1] == "grey+alpha 16-bit -> grey+alpha 8-bit"
    with pytest.raises(OutputError, match=r"^k: .*psd"):
        encode_stored(face, "psd", 95, "k")
    assert not can_write("psd") and can_write("gif") and can_write("tiff")


@pytest.mark.shared
def test_gif_is_written_with_an_adaptive_palette(face: np.ndarray) -> None:
    """OpenCV's GIF encoder uses a fixed palette; Pillow's adaptive one, which maskgen uses,
    keeps a photo within about one grey level."""
    data, _ = encode_stored(face, "gif", 95, "face")
    error = np.abs(read_stored(data).pixels.astype(int) - face).mean()
    assert error < 2
    if cv2.haveImageWriter("x.gif"):
        opencv_gif = read_stored(opencv_bytes(face, ".gif")).pixels
        assert np.abs(opencv_gif.astype(int) - face).mean() > 4 * error


@pytest.mark.shared
def test_an_ico_keeps_the_images_own_size(face: np.ndarray) -> None:
    """Pillow writes an ICO at its standard sizes that fit (16 to 256 px): a 250x250 photo
    came back 128x128, and a 200x170 one too, without a word. Written at its own size now,
    pixel for pixel (ICO's PNG or BMP frames are lossless)."""
    for pixels in (face, face[:170, :200]):
        data, change = encode_stored(pixels, "ico", 95, "k")
        stored = read_stored(data)
        assert change is None and stored.pixels.shape == pixels.shape, stored.pixels.shape
        assert np.array_equal(stored.pixels, pixels)


def test_sixteen_bit_grey_alpha_png_is_read_as_grey(tmp_path: Path) -> None:
    grey = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    alpha = np.full((3, 4), 40000, np.uint16)
    stored = read_stored(png_grey_alpha_16(grey, alpha))
    assert stored.layout == "grey+alpha 16-bit"
    assert np.array_equal(stored.pixels[:, :, 0], grey)
    assert np.array_equal(stored.pixels[:, :, 1], alpha)


def test_an_image_pillow_refuses_as_too_large_keeps_its_alpha(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow will not open an image of more than twice its MAX_IMAGE_PIXELS (179 megapixels):
    a 14000x14000 RGBA PNG was masked and written as RGB, its alpha gone without a word. The
    layout now comes from OpenCV there. (The limit is lowered here, so a small image shows it.)"""
    from PIL import Image

    rgba = np.zeros((120, 100, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = np.linspace(0, 255, 100, dtype=np.uint8)
    data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))[1].tobytes()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    stored = read_stored(data)
    assert stored is not None and stored.format == "png"
    assert stored.pixels.shape == (120, 100, 4) and np.array_equal(stored.pixels, rgba)


@pytest.mark.shared
@pytest.mark.parametrize("kept", [-2, 0.6])
def test_a_jpeg_cut_short_decodes_for_a_twin_as_opencvs_file_reader_decodes_it(
    lfw_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: float
) -> None:
    """A JPEG missing its last bytes (an interrupted download: only the end marker, or 40 %
    of the file) was called unreadable and its twin left unmasked, though ``cv2.imread``
    decodes it: OpenCV gives up when it decodes from memory. For a twin it now gives the same
    pixels, with libjpeg's words about this decode alone; elsewhere (training, evaluation,
    align) it stays undecodable."""
    from maskgen.decoder_messages import QUIET_ENV

    whole = (lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg").read_bytes()
    data = whole[:kept] if isinstance(kept, int) else whole[: int(len(whole) * kept)]
    path = tmp_path / "cut.jpg"
    path.write_bytes(data)
    expected = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    monkeypatch.setenv(QUIET_ENV, "1")
    stored = read_stored(data, "cut.jpg", cut_short=True)
    assert stored is not None and stored.format == "jpeg"
    np.testing.assert_array_equal(stored.rgb, expected)
    if isinstance(kept, float):
        assert stored.decoder_said == "Corrupt JPEG data: premature end of data segment"
    else:  # only the marker was missing: nothing damaged to say
        assert stored.decoder_said is None
    assert read_stored(data, "cut.jpg") is None and decode_rgb(data) is None
