"""The per-item step on real images with the real masking engine."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb, read_stored, sniff_image_format
from maskgen.pipeline.plan import input_stamp
from maskgen.pipeline.step import (
    ChunkJob,
    MaskerConfig,
    load_masker,
    mask_chunk,
    mask_sample,
    mask_samples,
)
from maskgen.types import Sample

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def mini_reader(lfw_mini: Path) -> RecordIOReader:
    return RecordIOReader(lfw_mini)


@pytest.fixture(scope="module")
def aligned_masker(spec):
    return load_masker(MaskerConfig(spec, "aligned"))


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buffer.tobytes()


def test_sniff_image_format_reads_the_bytes_not_a_name(mini_reader: RecordIOReader) -> None:
    rgb = decode_rgb(mini_reader.read(1).data)
    assert rgb is not None and rgb.shape == (112, 112, 3)
    assert sniff_image_format(mini_reader.read(1).data) == "jpeg"
    for ext, name in ((".png", "png"), (".bmp", "bmp"), (".webp", "webp")):
        assert sniff_image_format(_encode(rgb, ext)) == name
    assert sniff_image_format(b"RIFF\0\0\0\0AVI LIST") is None
    assert sniff_image_format(b"not an image") is None
    assert decode_rgb(b"not an image") is None
    assert decode_rgb(b"") is None


def test_masked_record_is_reencoded_and_labelled(mini_reader: RecordIOReader, aligned_masker):
    sample = mini_reader.read(1)
    twin, result = mask_sample(sample, aligned_masker, seed=0, jpeg_quality=95)
    assert result is not None and result.masked and result.reason is None
    assert result.key == 1 and result.faces == 1 and result.mask_type
    assert sniff_image_format(twin.data) == "jpeg" and twin.data != sample.data
    masked_rgb = decode_rgb(twin.data)
    assert masked_rgb is not None and masked_rgb.shape == (112, 112, 3)
    assert twin.label.dtype == np.float32
    assert twin.label.tolist() == [sample.label[0], 1.0]
    assert twin.extra == sample.extra and twin.key == sample.key
    again, _ = mask_sample(sample, aligned_masker, seed=0, jpeg_quality=95)
    assert again.data == twin.data  # the draw depends only on (seed, key)


def test_png_stays_png(mini_reader: RecordIOReader, aligned_masker) -> None:
    rgb = decode_rgb(mini_reader.read(2).data)
    sample = Sample(key="face.png", data=_encode(rgb, ".png"))
    twin, result = mask_sample(sample, aligned_masker, seed=3, jpeg_quality=95)
    assert result.masked
    assert sniff_image_format(twin.data) == "png" and twin.label is None
    assert not np.array_equal(decode_rgb(twin.data), rgb)


def test_undecodable_record_is_copied_and_flagged(mini_reader: RecordIOReader, aligned_masker):
    record = mini_reader.read(5)
    garbage = Sample(key=5, data=b"\x00garbage", label=record.label, extra=record.extra)
    twin, result = mask_sample(garbage, aligned_masker, seed=0, jpeg_quality=95)
    assert twin.data == garbage.data
    assert twin.label.tolist() == [record.label[0], 0.0]
    assert result.masked is False and result.reason == "unreadable" and result.faces == 0


def test_non_image_record_passes_through_untouched(mini_reader: RecordIOReader, aligned_masker):
    header = mini_reader.read(0)
    assert not header.is_image
    twin, result = mask_sample(header, aligned_masker, seed=0, jpeg_quality=95)
    assert twin is header and result is None


def test_a_batch_of_samples_equals_each_sample_alone(mini_reader: RecordIOReader, aligned_masker):
    """mask_samples (one batched landmark fit for all the images) gives each sample the twin
    and row mask_sample gives it alone, whatever else is in the batch: header and undecodable
    records in between, the same image twice under two keys."""
    garbage = Sample(key="garbage", data=b"\x00garbage")
    twice = dataclasses.replace(mini_reader.read(7), key="7 again")
    samples = [mini_reader.read(0), *(mini_reader.read(k) for k in range(1, 9)), garbage, twice]
    together = mask_samples(samples, aligned_masker, seed=4, jpeg_quality=95)
    alone = [mask_sample(s, aligned_masker, seed=4, jpeg_quality=95) for s in samples]
    assert [twin.data for twin, _ in together] == [twin.data for twin, _ in alone]
    assert [row for _, row in together] == [row for _, row in alone]
    assert together[0][1] is None and together[9][1].reason == "unreadable"
    assert together[7][0].data != together[10][0].data  # same face, its own draw per key


def test_photo_without_a_face_keeps_its_bytes(photo_folder: Path, spec) -> None:
    masker = load_masker(MaskerConfig(spec, "auto"))
    data = (photo_folder / "odd" / "no_face.jpg").read_bytes()
    twin, result = mask_sample(Sample("odd/no_face.jpg", data), masker, seed=0, jpeg_quality=95)
    assert twin.data == data
    assert result.masked is False and result.reason == "no_face"


def test_chunk_with_its_own_reader_equals_one_opening_the_input(
    tmp_path: Path, lfw_mini: Path, mini_reader: RecordIOReader, spec
) -> None:
    """The job's subset reader (what workers get) and the worker opening the whole input write
    the same parts, header record included."""
    keys = range(0, 12)
    outputs = []
    for name, reader in (("own", mini_reader.subset(keys)), ("opened", None)):
        job = ChunkJob(
            index=0,
            keys=keys,
            input_path=str(lfw_mini),
            format_name="recordio",
            input_stamp=input_stamp(lfw_mini),
            data_part=tmp_path / name / "chunk.part",
            manifest_part=tmp_path / name / "chunk.jsonl",
            masker=MaskerConfig(spec, "aligned"),
            seed=0,
            jpeg_quality=95,
            reader=reader,
        )
        summary = mask_chunk(job)
        assert summary.counts.items == 12 and summary.counts.masked >= 10
        outputs.append(sorted((p.name, p.read_bytes()) for p in (tmp_path / name).iterdir()))
    assert [name for name, _ in outputs[0]] == ["chunk.jsonl", "chunk.part", "chunk.part.idx"]
    assert outputs[0] == outputs[1]


def test_check_masker_fails_early_without_loading_models(tmp_path):
    from maskgen.errors import ConfigError, ModelNotFoundError
    from maskgen.masks import MaskSpec
    from maskgen.pipeline.step import check_masker

    check_masker(MaskerConfig(MaskSpec(), "aligned"))
    with pytest.raises(ModelNotFoundError):
        check_masker(MaskerConfig(MaskSpec(), "aligned", models_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="unknown mask type"):
        check_masker(MaskerConfig(MaskSpec(mask_types=("visor",)), "aligned"))
    with pytest.raises(ConfigError, match="face_mode"):
        check_masker(MaskerConfig(MaskSpec(), "sideways"))


# --- formats and layouts kept (alpha, 16 bits, grey) ------------------------------------------


@pytest.fixture(scope="module")
def auto_masker(spec):
    return load_masker(MaskerConfig(spec, "auto"))


@pytest.fixture(scope="module")
def lfw_face(lfw_dir: Path) -> np.ndarray:
    """A real LFW photo, (250, 250, 3) uint8 RGB."""
    bgr = cv2.imread(str(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _encode_any(pixels: np.ndarray, ext: str) -> bytes:
    """RGB(A) or grey pixels, any depth, as OpenCV writes them."""
    array = pixels
    if pixels.ndim == 3:
        code = cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        array = cv2.cvtColor(pixels, code)
    ok, buffer = cv2.imencode(ext, array)
    assert ok
    return buffer.tobytes()


def _mask(masker, name: str, data: bytes, seed: int = 0):
    twin, result = mask_sample(Sample(name, data, name=name), masker, seed=seed, jpeg_quality=95)
    return twin, result, read_stored(twin.data, name)


def _lower_face_share(changed: np.ndarray) -> float:
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.min() > 90  # below the eyes of a 250x250 LFW face
    return float(changed.mean())


def test_rgba_png_keeps_its_alpha_exactly(lfw_face: np.ndarray, auto_masker) -> None:
    """Transparent corners and a half-transparent band stay as they were; the mask is drawn
    on the colour channels only."""
    alpha = np.full(lfw_face.shape[:2], 255, np.uint8)
    alpha[:50, :50] = 0
    alpha[:, -40:] = 90
    data = _encode_any(np.dstack([lfw_face, alpha]), ".png")
    _, result, out = _mask(auto_masker, "face.png", data)
    assert result.masked and result.format_change is None
    assert out.format == "png" and out.layout == "rgb+alpha 8-bit"
    assert np.array_equal(out.pixels[:, :, 3], alpha)
    changed = np.any(out.pixels[:, :, :3] != lfw_face, axis=2)
    assert 0.04 < _lower_face_share(changed) < 0.4


def test_16_bit_png_stays_16_bit_and_unmasked_pixels_keep_every_bit(
    lfw_face: np.ndarray, auto_masker
) -> None:
    deep = lfw_face.astype(np.uint16) * 256 + np.uint16(77)  # detail below the top 8 bits
    _, result, out = _mask(auto_masker, "face.png", _encode_any(deep, ".png"))
    assert result.masked and result.format_change is None
    assert out.pixels.dtype == np.uint16 and out.layout == "rgb 16-bit"
    # Every pixel carries a low byte of 77, so a trip through 8 bits would change them all:
    # only the mask's pixels may differ, and those are 8-bit colours spread over 16 bits.
    changed = np.any(out.pixels != deep, axis=2)
    assert 0.04 < _lower_face_share(changed) < 0.4
    assert np.all(out.pixels[changed] % 257 == 0)


def test_grey_photos_come_back_grey(lfw_face: np.ndarray, auto_masker) -> None:
    grey = cv2.cvtColor(lfw_face, cv2.COLOR_RGB2GRAY)
    for name, ext in (("face.jpg", ".jpg"), ("face.png", ".png"), ("face.tif", ".tif")):
        _, result, out = _mask(auto_masker, name, _encode_any(grey, ext))
        assert result.masked and result.format_change is None, name
        assert out.pixels.shape == grey.shape and out.layout == "grey 8-bit", name
        if ext != ".jpg":  # lossless: only the mask's pixels differ
            assert 0.04 < _lower_face_share(out.pixels != grey) < 0.4


def test_a_layout_the_format_cannot_hold_is_stated(lfw_face: np.ndarray, auto_masker) -> None:
    """A 16-bit grey + alpha PNG: neither OpenCV nor Pillow writes one, so the twin is an
    8-bit grey + alpha PNG, and the row says so."""
    from tests.test_images import png_grey_alpha_16

    grey = cv2.cvtColor(lfw_face, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    alpha = np.full(grey.shape, 65535, np.uint16)
    alpha[:30] = 0
    _, result, out = _mask(auto_masker, "face.png", png_grey_alpha_16(grey, alpha))
    assert result.masked
    assert result.format_change == "grey+alpha 16-bit -> grey+alpha 8-bit"
    assert result.to_json()["format_change"] == result.format_change
    assert np.array_equal(out.pixels[:, :, 1], (alpha >> 8).astype(np.uint8))


@pytest.mark.parametrize(("name", "fmt"), [("face.jpg", "JPEG"), ("face.tif", "TIFF")])
def test_a_cmyk_twin_is_rgb_and_the_row_says_so(
    lfw_face: np.ndarray, auto_masker, name: str, fmt: str
) -> None:
    """Print shops' CMYK JPEGs and TIFFs decode to RGB; the twin is an RGB JPEG or TIFF,
    stated in the row (a CMYK TIFF's twin was RGB with ``format_change`` null)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(lfw_face).convert("CMYK").save(
        buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {})
    )
    _, result, out = _mask(auto_masker, name, buffer.getvalue())
    assert result.masked and result.format_change == "cmyk 8-bit -> rgb 8-bit"
    assert out.format == fmt.lower() and out.pixels.shape[2] == 3


def test_a_palette_png_twin_is_rgb_and_the_row_says_so(lfw_face: np.ndarray, auto_masker) -> None:
    """A palette (or 1-bit) PNG, BMP or TIFF decodes to RGB and its twin was written as RGB
    with ``format_change`` null: the layout changed without a word. A GIF, written with a
    palette again, keeps null."""
    from PIL import Image

    palette, gif = io.BytesIO(), io.BytesIO()
    Image.fromarray(lfw_face).convert("P").save(palette, "PNG")
    Image.fromarray(lfw_face).save(gif, "GIF")
    _, result, out = _mask(auto_masker, "face.png", palette.getvalue())
    assert result.masked and result.format_change == "palette -> rgb 8-bit"
    assert out.format == "png" and out.layout == "rgb 8-bit"
    _, result, _ = _mask(auto_masker, "face.gif", gif.getvalue())
    assert result.masked and result.format_change is None


def test_gif_and_tiff_faces_are_masked_in_their_own_format(
    lfw_face: np.ndarray, auto_masker
) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(lfw_face).save(buffer, "GIF")
    for name, data in (
        ("face.gif", buffer.getvalue()),
        ("face.tif", _encode_any(lfw_face, ".tif")),
        ("face.TIFF", _encode_any(lfw_face.astype(np.uint16) * 257, ".tiff")),
    ):
        original = read_stored(data, name)
        twin, result, out = _mask(auto_masker, name, data)
        assert result.masked and result.format_change is None, name
        assert sniff_image_format(twin.data) == original.format and out.layout == original.layout
        changed = np.any(np.abs(out.rgb.astype(int) - original.rgb) > 30, axis=2)
        assert 0.04 < _lower_face_share(changed) < 0.4, name


# --- several faces, each described -------------------------------------------------------------


@pytest.fixture(scope="module")
def two_faces(lfw_dir: Path) -> np.ndarray:
    """Two real LFW photos side by side, (300, 550, 3) uint8 RGB: Al Gore (250 px, padded)
    on the left, Aaron Eckhart enlarged to 300 px, so his face is the larger, on the right."""
    left = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    right = cv2.resize(
        cv2.imread(str(lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg")), (300, 300)
    )
    left = np.pad(left, ((25, 25), (0, 0), (0, 0)), mode="edge")
    return cv2.cvtColor(np.concatenate([left, right], axis=1), cv2.COLOR_BGR2RGB)


def test_every_face_gets_its_own_row_entry_largest_first(two_faces: np.ndarray, auto_masker):
    data = _encode_any(two_faces, ".png")
    _, result, _ = _mask(auto_masker, "two.png", data, seed=1)
    assert result.masked and result.faces == 2 and len(result.face_masks) == 2
    right, left = result.face_masks
    assert right["box"][0] > 300 and left["box"][2] < 250  # one face in each photo
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (right["box"], left["box"])]
    assert areas[0] > areas[1]
    assert (result.mask_type, result.color, result.texture) == (
        right["mask_type"],
        right["color"],
        right["texture"],
    )  # the top-level fields stay those of the largest face
    assert right["mask_type"] != left["mask_type"]  # seed 1 draws two different types
    for face in result.face_masks:
        assert face["detected"] is True
        assert set(face) >= {"box", "mask_type", "color", "texture", "texture_scale", "fit_jitter"}


def test_the_face_list_re_renders_the_twin_exactly(two_faces: np.ndarray, auto_masker):
    """The row holds everything random about each face: finding the faces again and rendering
    each with its recorded params gives the twin's pixels bit for bit (PNG, lossless)."""
    from maskgen.types import MaskParams

    _, result, out = _mask(auto_masker, "two.png", _encode_any(two_faces, ".png"), seed=1)
    faces = auto_masker.finder.find_faces(two_faces, "auto")
    assert [list(face.box) for face in faces] == [entry["box"] for entry in result.face_masks]
    image = two_faces
    for face, entry in zip(faces, result.face_masks, strict=True):
        image, _ = auto_masker.render(image, face.landmarks, MaskParams.from_json(entry))
    assert np.array_equal(image, out.pixels)


def test_manifest_rows_round_trip_and_old_rows_still_read(tmp_path: Path) -> None:
    from maskgen.pipeline.manifest import read_rows, write_manifest_part
    from maskgen.types import ItemResult

    face = {"box": [1.0, 2.0, 3.0, 4.0], "detected": True, "mask_type": "n95", "color": None}
    rows = [
        ItemResult("a.png", True, "n95", faces=1, face_masks=(face,), format_change="x -> y"),
        ItemResult("b.txt", False, reason="not_an_image"),
    ]
    write_manifest_part(tmp_path / "part.jsonl", rows)
    assert list(read_rows(tmp_path / "part.jsonl")) == rows
    old = '{"key":"c.jpg","masked":false,"mask_type":null,"color":null,"texture":null,'
    old += '"reason":"no_face","faces":0}\n'
    (tmp_path / "old.jsonl").write_text(old)
    (row,) = read_rows(tmp_path / "old.jsonl")
    assert row.reason == "no_face" and row.face_masks == () and row.format_change is None
