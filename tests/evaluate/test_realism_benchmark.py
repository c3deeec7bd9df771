"""The pieces of benchmarks/realism.py and tools/realism_sheet.py: the classifiers and the
discriminator on generated faces, the twin pairing, the real-set loaders (and their clean skip
where ../shared/data is absent)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def realism() -> Iterator[ModuleType]:
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark runs; many threads crawl on a shared machine
    yield _load(REPO / "benchmarks" / "realism.py")
    torch.set_num_threads(threads)


def generated_faces(n: int, masked: bool, seed: int, colours=((90, 140, 200), (230, 230, 230))):
    """``n`` (112, 112, 3) uint8 stand-ins for aligned crops: a skin-toned ellipse with two dark
    eyes on a smooth random background; ``masked`` adds a filled polygon from the nose to the
    chin in one of ``colours`` (jittered), as a mask covers a face."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 112, 112, 3), np.uint8)
    for i in range(n):
        noise = rng.normal(0, 1, (14, 14, 3))
        image = cv2.resize(noise, (112, 112), interpolation=cv2.INTER_CUBIC) * 40 + 120
        skin = rng.uniform(120, 220) * np.array([1.0, 0.8, 0.65])
        cx, cy = 56 + rng.integers(-4, 5), 60 + rng.integers(-4, 5)
        cv2.ellipse(image, (int(cx), int(cy)), (34, 46), 0, 0, 360, skin.tolist(), -1)
        for dx in (-15, 15):
            cv2.circle(image, (int(cx + dx), int(cy - 12)), 4, (30, 30, 30), -1)
        if masked:
            colour = np.array(colours[rng.integers(len(colours))]) + rng.integers(-20, 21, 3)
            top = cy + rng.integers(0, 8)
            points = np.array(
                [[cx - 36, top], [cx + 36, top], [cx + 30, cy + 44], [cx - 30, cy + 44]]
            )
            cv2.fillPoly(image, [points.astype(np.int32)], colour.tolist())
        out[i] = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    return out


def faces_set(realism: ModuleType, n: int, seed: int, people: int = 20):
    """Originals and masked twins of ``n`` generated people-photos (identity = index % people)."""
    identity = np.arange(n) % people
    bare = realism.Faces(generated_faces(n, False, seed), np.zeros(n, np.int64), identity)
    worn = realism.Faces(generated_faces(n, True, seed + 1), np.ones(n, np.int64), identity)
    return bare, worn


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hog", "cnn"])
def test_classifier_trained_on_twins_tells_masks_on_unseen_faces(
    realism: ModuleType, name: str
) -> None:
    """Trained on generated originals + twins, each classifier scores held-out people and
    'real' sets made by the same process, and reports every figure the table shows."""
    originals, twins = faces_set(realism, 150, seed=0)
    real = {
        "mfr2_masked": realism.Faces(
            generated_faces(30, True, 10), np.ones(30, np.int64), np.zeros(30, np.int64)
        ),
        "mfr2_unmasked": realism.Faces(
            generated_faces(20, False, 11), np.zeros(20, np.int64), np.zeros(20, np.int64)
        ),
        "rwmfd": realism.Faces(
            generated_faces(30, True, 12), np.ones(30, np.int64), np.zeros(30, np.int64)
        ),
    }
    if name == "hog":
        classifier = realism.CLASSIFIERS[name](realism.parse_args([]))
    else:  # few faces: smaller batches, more epochs than the benchmark's
        classifier = realism.CnnClassifier(epochs=15, batch_size=16)
    result = realism.score_classifier(classifier, originals, twins, real, seed=0)
    assert result["train_faces"] == 240 and result["in_domain_faces"] == 60
    assert result["real_faces"] == 80
    assert result["in_domain"] >= 0.9, result
    assert result["real_all"] >= 0.9, result
    for key in ("mfr2_masked", "mfr2_unmasked", "rwmfd", "real_balanced"):
        assert 0.0 <= result[key] <= 1.0
    # the figure is a real count: a set the classifier gets wrong pulls it down
    flipped = {k: realism.Faces(v.images, 1 - v.masked, v.identity) for k, v in real.items()}
    wrong = realism.score_classifier(classifier, originals, twins, flipped, seed=0)
    assert wrong["real_all"] <= 0.1, wrong


def test_discriminator_is_near_chance_on_one_distribution(realism: ModuleType) -> None:
    same_a = generated_faces(60, True, 1)
    same_b = generated_faces(60, True, 2)
    bare = generated_faces(60, False, 3)
    assert 0.3 <= realism.discriminator_accuracy(same_a, same_b, seed=0) <= 0.7
    assert realism.discriminator_accuracy(same_a, bare, seed=0) >= 0.9


def test_twin_pairs_keep_masked_twins_and_refuse_another_sets_twin(
    realism: ModuleType, tmp_path: Path
) -> None:
    from paper_miniature import write_label_rec

    def jpeg(image: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", image[:, :, ::-1])[1].tobytes()

    bare = generated_faces(3, False, 0)
    worn = generated_faces(3, True, 1)
    write_label_rec(tmp_path / "train.rec", [(jpeg(bare[i]), i, 0.0) for i in range(3)])
    # record 1 could not be masked: the twin repeats the original with flag 0
    twin = [(jpeg(worn[0]), 0, 1.0), (jpeg(bare[1]), 1, 0.0), (jpeg(worn[2]), 2, 1.0)]
    write_label_rec(tmp_path / "twin.rec", twin)
    originals, twins = realism.twin_pairs(tmp_path / "train.rec", tmp_path / "twin.rec")
    assert originals.masked.tolist() == [0, 0, 0] and originals.identity.tolist() == [0, 1, 2]
    assert twins.masked.tolist() == [1, 1] and twins.identity.tolist() == [0, 2]
    assert twins.images.shape == (2, 112, 112, 3)
    write_label_rec(tmp_path / "short.rec", twin[:2])
    with pytest.raises(SystemExit, match="not its twin"):
        realism.twin_pairs(tmp_path / "train.rec", tmp_path / "short.rec")


def test_without_shared_data_the_loaders_skip_and_the_script_says_why(
    realism: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert realism.real_mask_dirs(tmp_path) is None
    assert realism.load_real_faces(tmp_path / "work", tmp_path) is None
    assert realism.main(["--shared", str(tmp_path), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "../shared/data" in err
    assert not (tmp_path / "work").exists()


@pytest.mark.shared
def test_real_sets_load_with_their_labels(
    realism: ModuleType, shared_data: Path, tmp_path: Path
) -> None:
    if realism.real_mask_dirs(shared_data) is None:
        pytest.skip(f"needs {shared_data / 'real-masks'}")
    recs, real = realism.load_real_faces(tmp_path, shared_data)
    counts = {name: (len(f), int(f.masked.sum())) for name, f in real.items()}
    assert counts == {"mfr2_masked": (86, 86), "mfr2_unmasked": (48, 0), "rwmfd": (243, 243)}
    assert all(f.images.shape[1:] == (112, 112, 3) for f in real.values())
    assert all(path.is_file() for path in recs.values())


def test_side_by_side_sheet_refuses_to_write_real_photos_into_the_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = _load(REPO / "tools" / "realism_sheet.py")
    target = REPO / "docs" / "real_photos_here.png"
    assert sheet.main(["--real", "-o", str(target), "--shared", str(tmp_path)]) == 2
    assert "third-party" in capsys.readouterr().err
    assert not target.exists()
    assert sheet.main(["--real", "-o", str(tmp_path / "x.png"), "--shared", str(tmp_path)]) == 2
    assert not (tmp_path / "x.png").exists()
    # the misjudged real photos of a benchmark result: also only outside the repository
    assert sheet.main(["--misses", str(tmp_path / "realism.json")]) == 2
    assert sheet.main(["--misses", str(tmp_path / "realism.json"), "-o", str(target)]) == 2
    assert not target.exists()


def test_misses_sheet_says_why_it_has_nothing_to_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A result without part (a) (a (b)-only run) records no misjudged photos: a one-line
    reason and exit 2, not a traceback or an empty sheet; so too a result file that is not
    there."""
    sheet = _load(REPO / "tools" / "realism_sheet.py")
    result = tmp_path / "realism_b.json"
    result.write_text(json.dumps({"data": {"real_recs": {}}, "b": {"real_all": 0.97}}))
    out = tmp_path / "misses.png"
    assert sheet.main(["--misses", str(result), "-o", str(out)]) == 2
    assert "no misjudged photos recorded" in capsys.readouterr().err
    assert sheet.main(["--misses", str(tmp_path / "absent.json"), "-o", str(out)]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert not out.exists()


def test_a_given_twin_is_keyed_by_its_content(realism: ModuleType, tmp_path: Path) -> None:
    """--twin-dir: the cache follows the twin's bytes, so a twin rewritten in place is judged
    afresh, and the same bytes elsewhere reuse the cache."""
    from paper_miniature import write_label_rec

    def jpeg(image: np.ndarray) -> bytes:
        return cv2.imencode(".jpg", image[:, :, ::-1])[1].tobytes()

    worn = generated_faces(2, True, 0)
    given = tmp_path / "given" / "train.rec"
    given.parent.mkdir()
    write_label_rec(given, [(jpeg(worn[0]), 0, 1.0)])
    tag, linked = realism.link_given_twin(given, tmp_path / "work")
    assert linked.read_bytes() == given.read_bytes()
    assert linked.with_suffix(".idx").is_file()
    copy = tmp_path / "copy" / "train.rec"
    copy.parent.mkdir()
    write_label_rec(copy, [(jpeg(worn[0]), 0, 1.0)])
    assert realism.link_given_twin(copy, tmp_path / "work")[0] == tag
    write_label_rec(given, [(jpeg(worn[1]), 0, 1.0)])
    assert realism.link_given_twin(given, tmp_path / "work")[0] != tag


def _eyes_on_grain() -> np.ndarray:
    """A (112, 112, 3) uint8 test image: fine grain (something to blur or sharpen) on mid grey
    and two black 6x6 squares, off the vertical centre line, where eyes sit."""
    rng = np.random.default_rng(0)
    image = np.clip(150 + rng.normal(0, 8, (112, 112, 1)), 0, 255).repeat(3, axis=2)
    image[47:53, 30:36] = image[47:53, 60:66] = 0
    return image.astype(np.uint8)


def _laplacian_variance(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def _dark_centroid(image: np.ndarray) -> np.ndarray:
    """(x, y) mean of the pixels darker than half-way from the darkest to the median: the two
    dark squares of :func:`_eyes_on_grain`."""
    grey = image.mean(axis=2)
    ys, xs = np.nonzero(grey < (grey.min() + np.median(grey)) / 2)
    return np.array([xs.mean(), ys.mean()])


def test_classifier_augment_draws_sharper_and_softer_photos_and_jitters_alignment(
    realism: ModuleType,
) -> None:
    """--a-augment: photometric draws reach both blurrier and sharper than the photo (LFW's
    soft photos and sharp web photos) without moving the face; alignment moves it by a few
    pixels (the eyes' mean stays within the declared +-5 px, 0.9-1.1, +-10 degrees) and keeps
    the look; the same generator gives the same images."""
    assert realism.ClassifierAugment.named("none") is None
    with pytest.raises(ValueError, match="not one of"):
        realism.ClassifierAugment.named("sharpen")
    face = _eyes_on_grain()
    eyes = _dark_centroid(face)
    photometric = realism.ClassifierAugment.named("photometric")
    drawn = photometric.batch(np.repeat(face[None], 60, axis=0), np.random.default_rng(0))
    assert drawn.shape == (60, 112, 112, 3) and drawn.dtype == np.uint8
    sharpness = [_laplacian_variance(image) for image in drawn]
    original = _laplacian_variance(face)
    assert min(sharpness) < 0.5 * original and max(sharpness) > 2 * original
    mirrored = np.array([111 - eyes[0], eyes[1]])
    for image in drawn:  # unmoved, or mirrored about the vertical centre line
        centre = _dark_centroid(image)
        assert min(np.abs(centre - eyes).max(), np.abs(centre - mirrored).max()) < 1.5
    alignment = realism.ClassifierAugment.named("alignment")
    moved = alignment.batch(np.repeat(face[None], 30, axis=0), np.random.default_rng(0))
    shifts = [
        min(np.abs(_dark_centroid(image) - p).max() for p in (eyes, mirrored)) for image in moved
    ]
    assert 1.0 < max(shifts) < 5 + 0.1 * 56 + 56 * np.sin(np.radians(10))
    assert abs(float(moved.mean()) - float(face.mean())) < 5  # geometry only
    again = alignment.batch(np.repeat(face[None], 30, axis=0), np.random.default_rng(0))
    assert np.array_equal(moved, again)


@pytest.mark.shared
def test_online_twin_draws_the_twin_files_masks_first_then_new_ones(
    realism: ModuleType, rec_dir: Path, tmp_path: Path
) -> None:
    """--a-online-mask: epoch 0 of the online twin is ``maskgen augment``'s twin of the same
    aligned LFW records (but for its JPEG encoding), epoch 1 draws other masks on them, and a
    record the twin left unmasked is left out of both."""
    import subprocess

    train = rec_dir / "lfw-mini" / "train.rec"
    twin_dir = tmp_path / "twin"
    done = subprocess.run(
        [sys.executable, "-m", "maskgen", "augment", str(train), "-o", str(twin_dir),
         "--seed", "3", "--workers", "1", "-q"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    originals, twins = realism.twin_pairs(train, twin_dir / "train.rec")
    online = realism.OnlineTwin.of(train, originals, seed=3)
    first, second = online(0), online(1)
    assert first.identity.tolist() == twins.identity.tolist()
    assert (first.masked == 1).all() and len(first) >= 0.9 * len(online.originals)
    twin_error = np.abs(first.images.astype(np.int16) - twins.images).mean(axis=(1, 2, 3))
    assert twin_error.max() < 4.0, twin_error  # JPEG's error, not another mask
    assert second.identity.tolist() == first.identity.tolist()  # the same faces, masked again
    redrawn = np.abs(second.images.astype(np.int16) - first.images).mean(axis=(1, 2, 3))
    assert np.median(redrawn) > 2 * np.median(twin_error), (redrawn, twin_error)


def test_cnn_trains_on_each_epochs_own_draws(realism: ModuleType) -> None:
    """CnnClassifier.fit with a callable reads ``faces(epoch)`` once per epoch, in order."""
    originals, twins = faces_set(realism, 40, seed=0)
    asked: list[int] = []

    def epoch_faces(epoch: int):
        asked.append(epoch)
        return realism.Faces.join([originals, twins])

    realism.CnnClassifier(epochs=3, batch_size=16).fit(epoch_faces, seed=0)
    assert asked == [0, 1, 2]


@pytest.mark.shared
def test_framing_reads_back_a_known_zoom_and_turn(lfw_dir: Path) -> None:
    """benchmarks/real_framing.py on real LFW faces aligned by maskgen: scale about 1 and angle
    about 0; the same crops zoomed in by 1.15 and turned by 8 degrees about the template's
    centre (counter-clockwise on screen) read back as scale about 1/1.15 and angle about +8: the
    similarity that maps them back, its angle taken in image axes (y down)."""
    from maskgen.faces import align_face, five_points, load_face_finder
    from tests.conftest import lfw_sample_paths

    framing = _load(REPO / "benchmarks" / "real_framing.py").framing
    finder = load_face_finder()
    crops = []
    for path in lfw_sample_paths(lfw_dir, 6):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = finder.find_faces(rgb, "detect")
        if faces:
            crops.append(align_face(rgb, five_points(faces[0].landmarks)))
    assert len(crops) >= 5
    turn = cv2.getRotationMatrix2D((56.0, 56.0), 8.0, 1.15)
    turned = np.stack([cv2.warpAffine(c, turn, (112, 112)) for c in crops])
    as_aligned, as_turned = framing(np.stack(crops)), framing(turned)
    assert not np.isnan(as_aligned).any() and not np.isnan(as_turned).any()
    assert np.median(np.abs(as_aligned[:, 0] - 1.0)) < 0.03
    assert np.median(np.abs(as_aligned[:, 1])) < 2.0
    assert np.median(np.abs(as_turned[:, 0] - 1 / 1.15)) < 0.03
    assert np.median(np.abs(as_turned[:, 1] - 8.0)) < 2.0


def test_misses_sheet_reads_both_result_kinds() -> None:
    """tools/realism_sheet.py's rows: a realism.py result gives each classifier's misjudged
    photos per set; a realism_seeds.py result gives those several (b) models get wrong,
    most-missed first, with the .recs it names."""
    sheet = _load(REPO / "tools" / "realism_sheet.py")
    recs = {"mfr2_unmasked": "/w/real/u.rec", "rwmfd": "/w/real/r.rec"}
    part_a = {"data": {"real_recs": recs}, "a": {"cnn": {"wrong": {"rwmfd": [4, 9]}}}}
    assert sheet.misjudged(part_a) == (recs, [("cnn", "rwmfd", [4, 9])])
    seeds = {
        "models": 5,
        "real_recs": recs,
        "sets": {"rwmfd": {"wrong_by_photo": {"3": 1, "165": 5, "12": 5}},
                 "mfr2_unmasked": {"wrong_by_photo": {}}},
    }  # fmt: skip
    got_recs, rows = sheet.misjudged(seeds)
    assert got_recs == recs
    assert rows == [
        ("(b) 5 models:", "rwmfd", [12, 165, 3]),
        ("(b) 5 models:", "mfr2_unmasked", []),
    ]


def test_each_classifier_has_its_own_default_augmentation(realism: ModuleType) -> None:
    """Since session 29 the CNN trains on alignment-jittered crops (16 epochs) by default and
    HOG on plain ones; --a-augment given applies to both, and names both cache keys' variant."""
    default = realism.parse_args([])
    assert default.cnn_epochs == 16
    assert realism.a_augment(default, "cnn") == "alignment"
    assert realism.a_augment(default, "hog") == "none"
    given = realism.parse_args(["--a-augment", "photometric"])
    assert {realism.a_augment(given, name) for name in ("cnn", "hog")} == {"photometric"}
    cnn = realism.CLASSIFIERS["cnn"](default)
    assert cnn.augment is not None and cnn.augment.alignment and not cnn.augment.photometric
    assert realism.CLASSIFIERS["hog"](default).augment is None
