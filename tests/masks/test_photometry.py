"""The mask matches its photo: blur and grain follow the face's, measured on real LFW faces."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.faces import load_face_finder
from maskgen.masks import apply_mask, load_templates, load_textures, photometry
from maskgen.masks.engine import Masker
from maskgen.masks.photometry import (
    NO_MATCH,
    measure_edge_spread,
    measure_noise,
    sample_grain,
)
from maskgen.masks.policy import MaskSpec, sample_mask_params
from maskgen.masks.render import photo_match
from maskgen.seeding import item_rng
from maskgen.types import MaskParams
from tests.conftest import lfw_sample_paths

EYE_BAND = np.r_[17:30, 36:48]
KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def _luma_box(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    x, y, w, h = cv2.boundingRect(np.asarray(points, dtype=np.float32))
    return cv2.cvtColor(rgb[max(y, 0) : y + h, max(x, 0) : x + w], cv2.COLOR_RGB2GRAY)


def _spreads(out: np.ndarray, coverage: np.ndarray, landmarks: np.ndarray) -> tuple[float, float]:
    """(mask's edge spread over its coverage box, the eye band's), pixels."""
    ys, xs = np.nonzero(coverage > 0.5)
    mask = measure_edge_spread(_luma_box(out, np.stack([xs, ys], axis=1)))
    return mask, measure_edge_spread(_luma_box(out, landmarks[EYE_BAND]))


def _mask_noise(out: np.ndarray, coverage: np.ndarray, plain: np.ndarray | None = None) -> float:
    """Immerkaer's robust noise estimate over the mask's inside (coverage 1, eroded), where
    ``plain`` (the render without grain) is not clipped: noise cannot show in blown-out white
    or crushed black, in a photo or a mask."""
    unclipped = np.ones(coverage.shape, bool) if plain is None else _unclipped(plain)
    solid = ((coverage >= 0.999) & unclipped).astype(np.uint8)
    inside = cv2.erode(solid, np.ones((5, 5), np.uint8)) > 0
    response = cv2.filter2D(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.CV_32F, KERNEL)
    return float(np.median(np.abs(response[inside]))) / (6 * 0.6745)


def _unclipped(rgb: np.ndarray) -> np.ndarray:
    return ((rgb > 12) & (rgb < 243)).all(axis=2)


@pytest.fixture(scope="module")
def assets():
    return load_templates(), load_textures()


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, landmarks) for 10 spread-out LFW photos."""
    finder = load_face_finder()
    faces = []
    for path in lfw_sample_paths(lfw_dir, 12):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        found = finder.find_faces(rgb, "detect")
        if found:
            faces.append((rgb, found[0].landmarks))
    assert len(faces) >= 10
    return faces[:10]


@pytest.fixture(scope="module")
def crops(lfw_fold1_bin: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(crop, landmarks) for 10 aligned 112x112 crops of lfw-fold1.bin."""
    with open(lfw_fold1_bin, "rb") as handle:
        images, _ = pickle.load(handle, encoding="bytes")
    rgbs = [
        cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2RGB)
        for data in images[5::111][:10]
    ]
    found = load_face_finder().find_faces_batch(rgbs, "aligned")
    return [(rgb, faces[0].landmarks) for rgb, faces in zip(rgbs, found, strict=True) if faces]


def _render(rgb, landmarks, assets, index, match=None, spec=None):
    templates, textures = assets
    spec = MaskSpec() if spec is None else spec
    params = sample_mask_params(np.random.default_rng(index), spec, templates, textures)
    texture = textures[params.texture] if params.texture else None
    return apply_mask(rgb, landmarks, templates[params.mask_type], params, texture, match)


# --- the measures, on generated images -----------------------------------------------------


def test_edge_spread_reads_the_blur_of_a_generated_edge():
    """A disc's edge blurred by s px: the measure grows with s, close to sqrt(s^2 + c^2)."""
    disc = np.zeros((96, 96), np.uint8)
    cv2.circle(disc, (48, 48), 30, 200, -1, lineType=cv2.LINE_AA)
    spreads = [
        measure_edge_spread(cv2.GaussianBlur(disc, (0, 0), s) if s else disc) for s in (0, 1, 2, 3)
    ]
    assert spreads == sorted(spreads) and spreads[0] < 1.0
    assert spreads[2] == pytest.approx(2.0, rel=0.25) and spreads[3] == pytest.approx(3, rel=0.25)


def test_noise_reads_added_noise_on_a_shaded_image():
    """Immerkaer's filter ignores ramps and shading; the median ignores the edges."""
    ys, xs = np.mgrid[0:100, 0:100]
    shaded = (60 + 0.8 * xs + 0.4 * ys).astype(np.float64)
    cv2.circle(shaded, (50, 50), 25, 220, 2)
    rng = np.random.default_rng(3)
    for sigma in (2.0, 5.0, 10.0):
        noisy = np.clip(shaded + rng.normal(0, sigma, shaded.shape), 0, 255).astype(np.uint8)
        assert measure_noise(noisy) == pytest.approx(sigma, rel=0.12)
    assert measure_noise(np.clip(shaded, 0, 255).astype(np.uint8)) < photometry.NOISE_FLOOR


def _luma_views(rgbs: list[np.ndarray]) -> list[np.ndarray]:
    """Boxes of every size from 8 to ~100 px cut at random from real faces' luma, and flat,
    ramped and saturated ones (ties and borders are where a kernel could part from numpy)."""
    rng = np.random.default_rng(11)
    views = [np.full((8, 9), 77, np.uint8), np.tile(np.arange(40, dtype=np.uint8), (12, 1))]
    views.append(np.where(np.indices((20, 20)).sum(axis=0) % 2, 255, 0).astype(np.uint8))
    for rgb in rgbs:
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        for _ in range(6):
            h, w = rng.integers(8, min(luma.shape) // 1.2, 2)
            y, x = rng.integers(0, luma.shape[0] - h + 1), rng.integers(0, luma.shape[1] - w + 1)
            views.append(luma[y : y + h, x : x + w])
    return views


@pytest.mark.shared
def test_compiled_measures_equal_the_numpy_references_bit_for_bit(photos, crops, monkeypatch):
    """The edge-spread and noise kernels give the numpy references' numbers to the bit on
    real faces' boxes of many sizes and on flat, ramped and checkered ones, so a run's twin
    does not depend on whether its process had loaded numba."""
    views = _luma_views([rgb for rgb, _ in photos + crops])
    found = {}
    for kernels in ("numpy", "numba"):
        monkeypatch.setenv("MASKGEN_KERNELS", kernels)
        found[kernels] = [
            (photometry.edge_energy_sums(v), measure_noise(v), measure_edge_spread(v))
            for v in views
        ]
        with pytest.raises(ValueError, match="sides >= 3"):  # no interior pixel: both refuse
            measure_noise(np.zeros((2, 20), np.uint8))
    assert found["numba"] == found["numpy"]
    spreads = [spread for _, _, spread in found["numpy"]]
    assert len(set(spreads)) > len(views) // 2  # real, varied measures, not a constant


def test_edge_energy_sums_are_the_sobel_energies_over_the_strongest_pixels():
    """The sums against OpenCV's own Sobel on the image and on its re-blur, on a blurred
    disc: the sharp sum exactly (integers), the soft one to float32 rounding."""
    disc = np.zeros((64, 64), np.uint8)
    cv2.circle(disc, (32, 32), 20, 180, -1, lineType=cv2.LINE_AA)
    disc = cv2.GaussianBlur(disc, (0, 0), 1.5)

    def energy(image: np.ndarray) -> np.ndarray:
        gx = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3)
        gy = cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3)
        return gx * gx + gy * gy

    sharp = energy(disc.astype(np.float64))
    soft = energy(cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 1.0).astype(np.float64))
    k = int((1.0 - photometry.EDGE_FRACTION) * (disc.size - 1))
    edges = sharp >= np.partition(sharp.ravel(), k)[k]
    found_sharp, found_soft = photometry.edge_energy_sums(disc)
    assert found_sharp == sharp[edges].sum()
    assert found_soft == pytest.approx(soft[edges].sum(), rel=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        photometry.edge_energy_sums(disc.astype(np.float32))


def test_grain_windows_are_fixed_and_unit_normal():
    first = sample_grain(123_456, 80, 90)
    assert np.array_equal(first, sample_grain(123_456, 80, 90))
    assert not np.array_equal(first, sample_grain(654_321, 80, 90))
    big = sample_grain(7, 300, 310)  # more than half the field: its own generator
    for grain in (first, big):
        assert abs(float(grain.mean())) < 0.05 and float(grain.std()) == pytest.approx(1, abs=0.05)


# --- real faces ------------------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("source", ["photos", "crops"])
def test_blurred_photo_gets_a_mask_as_soft_as_its_face(source, assets, request):
    """Blurred by 2 px, the mask's edge spread follows the face's (ratio about 1, as on real
    masked photos); without the match it stays crisp (the old behaviour, ratio ~0.8).

    Plain and coloured masks, flat: a fine print (dots or flowers a pixel or two across) or a
    surgical mask's crease line reads sharper than it is by this measure, whatever its blur (a
    feature smaller than the blur has no step edge to re-blur; the creases are blurred with
    the mask), so ten textured or creased draws would judge the prints and folds, not the
    match; ``benchmarks/photo_match.py`` measures the whole policy over 1,241 renders a mode."""
    faces = request.getfixturevalue(source)
    untextured = MaskSpec(texture_prob=0.0, creases=False)
    matched, plain, growth = [], [], []
    for index, (rgb, landmarks) in enumerate(faces):
        blurred = cv2.GaussianBlur(rgb, (0, 0), 2.0)
        out, coverage = _render(blurred, landmarks, assets, index, spec=untextured)
        mask, face = _spreads(out, coverage, landmarks)
        matched.append(mask / face)
        out, coverage = _render(blurred, landmarks, assets, index, NO_MATCH, untextured)
        plain_mask, _ = _spreads(out, coverage, landmarks)
        plain.append(plain_mask / face)
        growth.append(mask / plain_mask)
    assert 0.85 <= np.median(matched) <= 1.15, matched
    assert np.median(plain) < 0.85, plain
    assert min(growth) > 1.2, growth  # every mask softer than unmatched


@pytest.mark.shared
def test_sharp_photo_keeps_a_crisp_mask(photos, crops, assets):
    """On the sharp originals the match adds at most a little blur: the mask's edges stay
    about as crisp as the face's (median ratio near 1, no mask much softer than its face)
    and under 1.5 px."""
    ratios = []
    for index, (rgb, landmarks) in enumerate(photos + crops):
        assert photo_match(rgb, landmarks).blur <= 1.2
        out, coverage = _render(rgb, landmarks, assets, index)
        mask, face = _spreads(out, coverage, landmarks)
        assert mask < 1.5 and mask <= 1.35 * face, (index, mask, face)
        ratios.append(mask / face)
    assert 0.85 <= np.median(ratios) <= 1.15, ratios


@pytest.mark.shared
@pytest.mark.parametrize("sigma", [4.0, 8.0])
def test_noisy_photo_gets_grain_of_its_strength(photos, crops, assets, sigma):
    """Gaussian luma noise of ``sigma`` levels on the photo: the mask's inside measures the
    same noise (within 20%); on the clean photo it stays under 1.5 levels."""
    rng = np.random.default_rng(11)
    for index, (rgb, landmarks) in enumerate(photos[:5] + crops[:5]):
        noise = rng.normal(0, sigma, rgb.shape[:2])[..., None]
        noisy = np.clip(rgb + noise, 0, 255).astype(np.uint8)
        out, coverage = _render(noisy, landmarks, assets, index)
        plain, _ = _render(noisy, landmarks, assets, index, NO_MATCH)
        face = measure_noise(_luma_box(noisy, landmarks[EYE_BAND]))
        assert face == pytest.approx(sigma, rel=0.2)
        assert _mask_noise(out, coverage, plain) == pytest.approx(face, rel=0.2)
        clean, coverage = _render(rgb, landmarks, assets, index)
        assert _mask_noise(clean, coverage) < 1.5


@pytest.mark.shared
def test_grain_follows_the_drawn_seed_and_nothing_else(photos, assets):
    templates, _ = assets
    rgb, landmarks = photos[0]
    noisy = np.clip(rgb + np.random.default_rng(2).normal(0, 6, rgb.shape[:2])[..., None], 0, 255)
    noisy = noisy.astype(np.uint8)
    one, coverage = apply_mask(noisy, landmarks, templates["cloth"], MaskParams("cloth"))
    again, _ = apply_mask(noisy, landmarks, templates["cloth"], MaskParams("cloth"))
    other, _ = apply_mask(
        noisy, landmarks, templates["cloth"], MaskParams("cloth", grain_seed=99_991)
    )
    assert np.array_equal(one, again)
    inside = coverage >= 0.999
    assert not np.array_equal(one[inside], other[inside])
    outside = coverage == 0
    assert np.array_equal(one[outside], other[outside])
    mean_gap = np.abs(one[inside].mean(axis=0) - other[inside].mean(axis=0))
    assert mean_gap.max() < 1.0  # the same mask, another grain


@pytest.mark.shared
def test_same_seed_and_key_give_the_same_bytes(photos):
    """The grain comes from the item's draw: the same (seed, key) renders identical bytes
    in a new Masker, and the recorded params re-render them."""
    rgb, _ = photos[3]
    noisy = np.clip(rgb + np.random.default_rng(4).normal(0, 5, rgb.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    first = Masker(MaskSpec(), face_mode="detect").mask_image(noisy, item_rng(5, "a/b.jpg"))
    second = Masker(MaskSpec(), face_mode="detect").mask_image(noisy, item_rng(5, "a/b.jpg"))
    assert first.image.tobytes() == second.image.tobytes()
    params = first.applied[0].params
    assert MaskParams.from_json(params.to_json()) == params
    rerendered, _ = Masker(MaskSpec(), face_mode="detect").render(
        noisy, first.applied[0].face.landmarks, params
    )
    assert rerendered.tobytes() == first.image.tobytes()
    legacy = {k: v for k, v in params.to_json().items() if k != "grain_seed"}
    assert MaskParams.from_json(legacy).grain_seed == 0


def _log_bg(pixels: np.ndarray) -> float:
    """log(B/G) of the mean colour of (N, 3) RGB pixels."""
    _, green, blue = np.maximum(pixels.reshape(-1, 3).mean(axis=0), 1.0)
    return float(np.log(blue / green))


@pytest.mark.shared
def test_a_yellow_photo_gets_a_yellowed_mask(photos, assets):
    """A warm cast over the whole photo (blue x0.75, red x1.1) moves a grey mask's white
    balance (log B/G) by at least 0.42 of what it does to the skin (skin and surround both
    see it; the skin alone gave 0.35); the same cast on the background alone moves it much
    less (at most 0.25 of the background's shift)."""
    templates, _ = assets
    cast = np.array([1.10, 1.0, 0.75])
    params = MaskParams("surgical", color="#a8a8a8")  # grey: no channel clips
    whole, background = [], []
    for rgb, landmarks in photos:
        clean, coverage = apply_mask(rgb, landmarks, templates["surgical"], params)
        inside = coverage >= 0.999
        x, y, w, h = cv2.boundingRect(landmarks)
        face = np.zeros(rgb.shape[:2], bool)
        face[max(y, 0) : y + h, max(x, 0) : x + w] = True
        for where, seen, results in (
            (np.ones_like(face), face & (coverage == 0), whole),
            (~face, ~face, background),
        ):
            tinted = rgb.astype(np.float64)
            tinted[where] *= cast
            tinted = np.clip(tinted, 0, 255).astype(np.uint8)
            out, _ = apply_mask(tinted, landmarks, templates["surgical"], params)
            mask_shift = _log_bg(out[inside]) - _log_bg(clean[inside])
            results.append(mask_shift / (_log_bg(tinted[seen]) - _log_bg(rgb[seen])))
    assert np.median(whole) >= 0.42, whole
    assert np.median(background) <= 0.25, background


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    _, data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def test_jpeg_quality_is_read_from_the_grid():
    """A generated textured image saved at quality q reads q; never compressed, or shifted
    off its grid since, it reads None."""
    rng = np.random.default_rng(5)
    texture = cv2.GaussianBlur(rng.normal(128, 40, (96, 128)), (0, 0), 1.5)
    image = np.clip(texture, 0, 255).astype(np.uint8)
    for quality in (10, 25, 40):
        decoded = _jpeg(image, quality).astype(np.float32)
        assert photometry.measure_jpeg_quality(decoded) == pytest.approx(quality, abs=3)
        shifted = decoded[3:83, 5:125]
        assert photometry.measure_jpeg_quality(shifted) is None
    assert photometry.measure_jpeg_quality(image.astype(np.float32)) is None


def _mask_blocks_quality(out: np.ndarray, coverage: np.ndarray) -> int | None:
    """The JPEG quality read from the 8x8 blocks wholly inside the mask's bounding box rows
    where it covers every pixel (the largest such rectangle of whole blocks)."""
    full = coverage >= 0.999
    ys, xs = np.nonzero(full)
    y0, y1 = -(-ys.min() // 8) * 8, ys.max() // 8 * 8
    x0, x1 = -(-xs.min() // 8) * 8, xs.max() // 8 * 8
    luma = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return photometry.measure_jpeg_quality(luma[y0:y1, x0:x1])


@pytest.mark.shared
@pytest.mark.parametrize("quality", [12, 30])
def test_low_quality_jpeg_gets_a_mask_in_blocks_of_that_quality(photos, crops, assets, quality):
    """A face saved at JPEG quality 12 or 30: the photo's quality is read, and the mask is
    compressed as the face was: where its own blocks hold enough texture to read (a flat
    mask at quality 12 is mostly bare 8x8 averages), they read that quality back; the plain
    render's blocks never read as JPEG."""
    read = []
    for index, (rgb, landmarks) in enumerate(photos[:5] + crops[:5]):
        photo = _jpeg(rgb, quality)
        assert photo_match(photo, landmarks).jpeg == pytest.approx(quality, abs=2)
        out, coverage = _render(photo, landmarks, assets, index)
        plain, _ = _render(photo, landmarks, assets, index, NO_MATCH)
        read.append(_mask_blocks_quality(out, coverage))
        assert _mask_blocks_quality(plain, coverage) is None
    found = [q for q in read if q is not None]
    assert len(found) >= 4 and all(abs(q - quality) <= 4 for q in found), read
