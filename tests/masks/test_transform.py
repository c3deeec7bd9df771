"""MaskAugment on real aligned crops from lfw-mini: draws, determinism across processes and
DataLoader workers, pickling, argument and input checks, and equality with `maskgen augment`."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import maskgen
from maskgen.errors import ConfigError
from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb, encode_image
from maskgen.masks import MaskAugment, MaskSpec, available_mask_types
from maskgen.pipeline import augment_dataset

pytestmark = pytest.mark.shared

REPO = Path(__file__).resolve().parents[2]
PARAM_FIELDS = {"faces_not_masked", "mask_type", "color", "texture", "wear", "reason", "faces"}
FACE_FIELDS = {
    "mask_type",
    "color",
    "texture",
    "texture_scale",
    "texture_angle",
    "texture_offset",
    "fit_jitter",
    "wear",
    "grain_seed",
    "box",
    "detected",
}


@pytest.fixture(scope="module")
def lfw_mini(rec_dir: Path) -> Path:
    return rec_dir / "lfw-mini" / "train.rec"


@pytest.fixture(scope="module")
def crops(lfw_mini: Path) -> dict[int, np.ndarray]:
    """Every aligned 112x112 crop of lfw-mini, decoded, by record key (294)."""
    with RecordIOReader(lfw_mini) as reader:
        return {key: decode_rgb(reader.read(key).data) for key in reader.image_keys()}


@pytest.fixture(scope="module")
def some(crops: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """A spread of 12 crops (different people) whose faces the face checks let through (none
    occluded or too turned: tests of the checks themselves are in tests/faces)."""
    from maskgen.masks import Masker

    masker = Masker(face_mode="aligned")
    keys = list(crops)
    found = masker.finder.find_faces_batch([crops[key] for key in keys], "aligned")
    problems = masker.face_problems([crops[key] for key in keys], found)
    clear = [key for key, problem in zip(keys, problems, strict=True) if problem == [None]]
    return {key: crops[key] for key in clear[::24][:12]}


def digest(out: dict) -> str:
    """One string for an output's image bytes, flag and params."""
    body = out["image"].tobytes() + json.dumps([out["masked"], out["params"]]).encode()
    return hashlib.sha256(body).hexdigest()


# --- arguments and inputs ------------------------------------------------------------------------


def test_mask_types_accept_any_case_and_a_comma_list():
    aug = MaskAugment(mask_types="Surgical, N95,surgical")
    assert aug.mask_types == ("surgical", "n95")
    assert MaskAugment(mask_types=["KN95"]).mask_types == ("kn95",)
    assert MaskAugment().mask_types is None
    assert maskgen.MaskAugment is MaskAugment


def test_unknown_mask_type_lists_the_available_ones():
    with pytest.raises(ConfigError) as caught:
        MaskAugment(mask_types="surgical,ffp2")
    message = str(caught.value)
    assert "'ffp2'" in message and ", ".join(available_mask_types()) in message
    with pytest.raises(ConfigError, match="no type; available"):
        MaskAugment(mask_types=" , ")
    with pytest.raises(ConfigError, match="names"):
        MaskAugment(mask_types=[3])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"p": 1.5}, "p must be in"),
        ({"p": -0.1}, "p must be in"),
        ({"p": "half"}, "p must be a number"),
        ({"p": True}, "p must be a number"),
        ({"p": float("nan")}, "p must be in"),
        ({"color_prob": 2.0}, "color_prob must be in"),
        ({"texture_prob": None}, "texture_prob must be a number"),
        ({"face_mode": "sideways"}, "face_mode must be one of auto, detect, aligned"),
        ({"seed": -1}, "seed must be in"),
        ({"seed": 2**32}, "seed must be in"),
        ({"seed": 1.5}, "seed must be an int"),
        ({"params_key": "image"}, "params_key must be a name other than"),
        ({"texture_dirs": ["/no/such/textures"]}, "does not exist|not found|no such"),
        ({"wear": {"correct": 0.5}}, "wear probabilities must sum to 1, got 0.5"),
        ({"wear": {"sideways": 1.0}}, "unknown wear placement 'sideways'; known: correct"),
        ({"wear": "correct=0.5,nose=0.5"}, "unknown placement 'nose'; known: correct"),
        ({"wear": 3}, "wear must map placements"),
    ],
)
def test_bad_arguments_fail_at_construction(options, match):
    with pytest.raises(ValueError, match=match):
        MaskAugment(**options)


def test_one_texture_folder_given_as_a_string(tmp_path: Path):
    """``texture_dirs="my_textures"`` was taken letter by letter and refused as
    "/: texture folder holds no images"; one folder, as ``--textures DIR``, is meant."""
    folder = tmp_path / "my textures"
    folder.mkdir()
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = (200, 40, 40)
    assert cv2.imwrite(str(folder / "red_stripes.png"), stripes)
    for given in (str(folder), folder):
        aug = MaskAugment(texture_dirs=given)
        assert aug.spec.texture_dirs == (folder,)
        assert "user/red_stripes" in aug.preload()._masker().textures


def test_a_file_given_as_a_texture_or_templates_folder_is_named_a_file(tmp_path: Path):
    """An image given as ``texture_dirs`` was said not to exist."""
    image = tmp_path / "fabric.png"
    assert cv2.imwrite(str(image), np.full((8, 8, 3), 90, np.uint8))
    with pytest.raises(ValueError, match=r"fabric.png: texture folder is a file, not a folder"):
        MaskAugment(texture_dirs=image).preload()
    with pytest.raises(ValueError, match=r"templates folder .*fabric.png is a file, not a"):
        MaskAugment(templates_dir=image).preload()
    with pytest.raises(ValueError, match=r"absent: texture folder does not exist"):
        MaskAugment(texture_dirs=tmp_path / "absent").preload()


def test_face_mode_accepts_any_case():
    assert MaskAugment(face_mode="Detect").face_mode == "detect"


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((112, 112, 3), np.float32), "uint8"),
        (np.zeros((112, 112), np.uint8), r"\(H, W, 3\) RGB, got shape \(112, 112\)"),
        (np.zeros((112, 112, 4), np.uint8), r"got shape \(112, 112, 4\)"),
        (np.zeros((0, 112, 3), np.uint8), r"got shape \(0, 112, 3\)"),
        ([[0, 0, 0]], "numpy array, got list"),
    ],
)
def test_bad_images_are_a_clear_value_error(image, match):
    aug = MaskAugment(p=1.0)
    with pytest.raises(ValueError, match=match):
        aug(image=image, key=1)


def test_an_image_not_given_by_keyword_says_how_to_call_it(some):
    """In a torchvision-style Compose (``for t in transforms: img = t(img)``), ``aug(img)``
    was Python's "takes 1 positional argument but 2 were given"; now a TypeError saying to
    pass the image by keyword and how to wrap the transform, the image left as it was."""
    image = next(iter(some.values()))
    before = image.copy()
    aug = MaskAugment(p=1.0)
    for call in (lambda: aug(image), lambda: aug(), lambda: aug(image, key=3)):
        with pytest.raises(TypeError) as refused:
            call()
        assert str(refused.value).startswith(
            "MaskAugment takes the image by keyword, as albumentations transforms do: "
            "out = aug(image=rgb, key=index)"
        )
        assert "give aug.image_only()" in str(refused.value)  # what the message says to do
    with pytest.raises(TypeError, match="masks one image per call"):  # albumentations' batch
        aug(images=[image, image])
    assert MaskAugment(p=1.0).image_only()(image).shape == image.shape
    np.testing.assert_array_equal(image, before)


def test_bad_key_is_a_type_error(some):
    image = next(iter(some.values()))
    with pytest.raises(TypeError, match="key must be an int or a str, got float"):
        MaskAugment(p=1.0)(image=image, key=1.0)


# --- what it does --------------------------------------------------------------------------------


def test_p1_masks_every_real_aligned_crop(some):
    aug = MaskAugment(p=1.0, seed=4)
    for key, image in some.items():
        before = image.copy()
        out = aug(image=image, key=key)
        assert out["masked"] is True and out["params"]["reason"] is None
        masked = out["image"]
        assert masked.shape == image.shape and masked.dtype == np.uint8
        assert masked is not image
        np.testing.assert_array_equal(image, before)  # input untouched
        changed = np.abs(masked.astype(int) - image).max(axis=2) > 8
        assert changed[:45].mean() == 0.0  # eyes and above untouched
        assert changed[80:105, 30:82].mean() > 0.6  # mouth and chin covered


def test_p0_returns_the_input_and_draws_nothing(some):
    aug = MaskAugment(p=0.0, seed=4)
    state = pickle.dumps(aug)
    for key, image in some.items():
        for out in (aug(image=image, key=key), aug(image=image)):
            assert out["image"] is image and out["masked"] is False
            assert out["params"]["reason"] == "not_drawn" and out["params"]["faces"] == []
    assert pickle.dumps(aug) == state  # its generator did not move


def test_force_apply_masks_whatever_p_with_the_keyed_draw(some):
    key, image = next(iter(some.items()))
    forced = MaskAugment(p=0.0, seed=4)(image=image, key=key, force_apply=True)
    always = MaskAugment(p=1.0, seed=4)(image=image, key=key)
    assert forced["masked"] and digest(forced) == digest(always)


def test_params_describe_the_draw_and_are_json(some):
    aug = MaskAugment(p=1.0, mask_types=["n95"], color_prob=1.0, texture_prob=0.0, seed=9)
    for key, image in some.items():
        params = aug(image=image, key=key)["params"]
        assert set(params) == PARAM_FIELDS and len(params["faces"]) == 1
        face = params["faces"][0]
        assert set(face) == FACE_FIELDS
        assert params["mask_type"] == face["mask_type"] == "n95"
        assert params["color"] == face["color"] and len(face["color"]) == 7
        assert params["texture"] is None and face["detected"] is False
        assert face["box"] == [16.0, 30.0, 96.0, 110.0]  # the aligned 112x112 face box
        assert json.loads(json.dumps(params)) == params


def test_wear_draws_placements_and_changes_nothing_else(some):
    """``wear`` (a dict or --wear's string) draws the placement into the params; a face
    drawn ``correct`` is the default instance's image exactly, the others differ."""
    mixed = {"correct": 0.4, "nose_uncovered": 0.2, "mouth_uncovered": 0.2, "chin_uncovered": 0.2}
    aug = MaskAugment(p=1.0, seed=2, wear=mixed)
    text = MaskAugment(
        p=1.0, seed=2, wear="correct=.4,nose_uncovered=.2,mouth_uncovered=.2,chin_uncovered=.2"
    )
    plain = MaskAugment(p=1.0, seed=2)
    assert aug.spec == text.spec and plain.spec.wear == (("correct", 1.0),)
    assert "wear={'correct': 0.4" in repr(aug) and "wear" not in repr(plain)
    assert aug.to_dict_private()["wear"] == mixed
    assert (
        MaskAugment(**{k: v for k, v in aug.to_dict_private().items() if k[0] != "_"}).spec
        == aug.spec
    )
    seen = set()
    for key, image in some.items():
        out, default = aug(image=image, key=key), plain(image=image, key=key)
        wear = out["params"]["wear"]
        seen.add(wear)
        assert wear == out["params"]["faces"][0]["wear"] and default["params"]["wear"] == "correct"
        assert np.array_equal(out["image"], default["image"]) == (wear == "correct"), key
        assert digest(text(image=image, key=key)) == digest(out)
    assert len(seen) >= 3
    assert MaskAugment(p=0.0, wear=mixed)(image=image, key=1)["params"]["wear"] is None


def test_plain_masks_without_colour_or_texture(some):
    aug = MaskAugment(p=1.0, mask_types="surgical", color_prob=0.0, texture_prob=0.0)
    for key, image in some.items():
        params = aug(image=image, key=key)["params"]
        assert (params["mask_type"], params["color"], params["texture"]) == ("surgical", None, None)


def test_a_face_that_cannot_be_masked_is_not_masked():
    blank = np.full((200, 200, 3), 127, np.uint8)
    out = MaskAugment(p=1.0, face_mode="detect")(image=blank, key="blank")
    assert out["masked"] is False and out["image"] is blank
    assert out["params"]["reason"] == "no_face" and out["params"]["faces"] == []


def test_other_targets_pass_through_unchanged(some):
    key, image = next(iter(some.items()))
    seg = np.ones((112, 112), np.uint8)
    for p in (0.0, 1.0):
        out = MaskAugment(p=p)(image=image, key=key, mask=seg, label=17, bboxes=[])
        assert out["mask"] is seg and out["label"] == 17 and out["bboxes"] == []
        assert set(out) == {"image", "masked", "params", "key", "mask", "label", "bboxes"}
        assert out["key"] == key
    assert set(MaskAugment(params_key="drawn")(image=image)) == {"image", "masked", "drawn"}


def test_works_inside_an_albumentations_compose(some):
    albumentations = pytest.importorskip("albumentations")
    key, image = next(iter(some.items()))
    aug = MaskAugment(p=1.0, seed=2, params_key="mask_params")
    pipeline = albumentations.Compose([aug, albumentations.HorizontalFlip(p=1.0)], strict=True)
    out = pipeline(image=image, key=key)
    alone = MaskAugment(p=1.0, seed=2)(image=image, key=key)
    assert out["masked"] is True and out["mask_params"] == alone["params"]
    np.testing.assert_array_equal(out["image"], alone["image"][:, ::-1])
    assert "MaskAugment(p=1.0" in repr(pipeline)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_and_key_same_output_other_keys_or_seeds_differ(some):
    first, again = MaskAugment(p=1.0, seed=5), MaskAugment(p=1.0, seed=5)
    other_seed = MaskAugment(p=1.0, seed=6)
    digests = {key: digest(first(image=image, key=key)) for key, image in some.items()}
    assert digests == {key: digest(again(image=image, key=key)) for key, image in some.items()}
    image = next(iter(some.values()))
    by_key = {digest(first(image=image, key=key)) for key in range(8)}
    by_seed = {digest(MaskAugment(p=1.0, seed=s)(image=image, key=3)) for s in range(8)}
    assert len(by_key) == 8 and len(by_seed) == 8
    assert digest(other_seed(image=image, key=0)) != digest(first(image=image, key=0))
    # str and int keys are the pipeline's: str(key) is hashed
    assert digest(first(image=image, key=7)) == digest(first(image=image, key="7"))
    assert digest(first(image=image, key=np.int64(7))) == digest(first(image=image, key=7))


def test_p_draws_half_of_the_keys_and_keeps_the_keyed_mask(crops):
    half, always = MaskAugment(p=0.5, seed=8), MaskAugment(p=1.0, seed=8)
    masked = 0
    for key, image in crops.items():
        out = half(image=image, key=key)
        if out["masked"]:
            masked += 1
            assert digest(out) == digest(always(image=image, key=key))
        else:  # not drawn, or drawn for a face the checks leave unmasked (occluded, ...)
            assert out["image"] is image and out["params"]["reason"] in ("not_drawn", "occluded")
    assert 0.38 < masked / len(crops) < 0.62  # 294 draws at p=0.5: about 7 sigma of room


def test_without_a_key_a_fresh_instance_repeats_its_sequence(some):
    image = next(iter(some.values()))
    aug_a, aug_b = MaskAugment(p=0.5, seed=1), MaskAugment(p=0.5, seed=1)
    sequence_a = [digest(aug_a(image=image)) for _ in range(8)]
    sequence_b = [digest(aug_b(image=image)) for _ in range(8)]
    assert sequence_a == sequence_b and len(set(sequence_a)) > 3


_CHILD = """
import hashlib, json, sys
import numpy as np
from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb
from maskgen.masks import MaskAugment
rec, keys = sys.argv[1], json.loads(sys.argv[2])
reader = RecordIOReader(rec)
aug = MaskAugment(p=0.5, seed=12)
def digest(out):
    body = out["image"].tobytes() + json.dumps([out["masked"], out["params"]]).encode()
    return hashlib.sha256(body).hexdigest()
image = decode_rgb(reader.read(keys[0]).data)
print(json.dumps({
    "keyed": [digest(aug(image=decode_rgb(reader.read(k).data), key=k)) for k in keys],
    "unkeyed": [digest(MaskAugment(p=0.5, seed=12)(image=image)) for _ in range(3)],
}))
"""


def test_same_output_in_a_fresh_process(lfw_mini: Path, crops):
    keys = list(crops)[::37]
    command = [sys.executable, "-c", _CHILD, str(lfw_mini), json.dumps(keys)]
    child = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=REPO, env=_child_env()
    )
    result = json.loads(child.stdout)
    aug = MaskAugment(p=0.5, seed=12)
    assert result["keyed"] == [digest(aug(image=crops[k], key=k)) for k in keys]
    image = crops[keys[0]]
    assert result["unkeyed"] == [digest(MaskAugment(p=0.5, seed=12)(image=image))] * 3


def _child_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


# --- pickling and DataLoader workers -------------------------------------------------------------


def test_pickles_small_without_dlib_before_and_after_use(some):
    aug = MaskAugment(p=0.7, mask_types="cloth,kn95", seed=3)
    key, image = next(iter(some.items()))
    expected = digest(aug(image=image, key=key))  # models now loaded in this process
    data = pickle.dumps(aug)
    assert len(data) < 4000 and b"dlib" not in data and b"FaceFinder" not in data
    copy = pickle.loads(data)
    assert digest(copy(image=image, key=key)) == expected
    assert repr(copy) == repr(aug)


def test_image_only_is_torchvisions_call_and_pickles(some, tmp_path):
    """torchvision's Compose calls ``t(img)``; the docs' lambda around the augment could not
    be pickled into spawned DataLoader workers (macOS's and Windows' default). ``image_only``
    takes a PIL image or an array, returns the image alone, draws as the augment does, and
    pickles. ``to_dict_private`` keeps the user's folders (albumentations' save dropped
    them)."""
    from PIL import Image

    image = next(iter(some.values()))
    wrapped = MaskAugment(p=1.0, seed=5).image_only()
    copy = pickle.loads(pickle.dumps(wrapped))
    expected = MaskAugment(p=1.0, seed=5)(image=image)["image"]
    for transform, given in ((wrapped, Image.fromarray(image)), (copy, image)):
        out = transform(given)
        assert type(out) is type(given)  # a PIL image for one: PIL-only transforms may follow
        assert np.array_equal(np.asarray(out), expected)
    assert repr(copy).endswith(".image_only()")
    with pytest.raises(ValueError, match="uint8"):
        wrapped(image.astype(np.float32))
    Image.fromarray(image).save(tmp_path / "fabric.png")  # a texture folder holds images
    folders = MaskAugment(texture_dirs=[tmp_path], models_dir=None).to_dict_private()
    assert folders["texture_dirs"] == [str(tmp_path)] and folders["models_dir"] is None
    assert MaskAugment(**{k: v for k, v in folders.items() if k[0] != "_"}).spec.texture_dirs == (
        tmp_path,
    )


def test_a_copy_in_another_process_does_not_repeat_the_unkeyed_draws(some, monkeypatch):
    """What a worker process sees (another pid): the unkeyed generator is reseeded there."""
    import maskgen.masks.transform as transform

    image = next(iter(some.values()))
    aug = MaskAugment(p=0.5, seed=3)
    copy = pickle.loads(pickle.dumps(aug))
    here = [digest(aug(image=image)) for _ in range(6)]
    real_pid = transform.os.getpid()
    monkeypatch.setattr(transform.os, "getpid", lambda: real_pid + 1)
    elsewhere = [digest(copy(image=image)) for _ in range(6)]
    assert elsewhere != here


class CropDataset:
    """A map-style dataset over lfw-mini as a training loader would use it: read, decode, mask
    (keyed by the record key, or without a key), return the flag and the image's digest."""

    def __init__(self, rec: Path, aug: MaskAugment, keyed: bool) -> None:
        self.reader = RecordIOReader(rec)
        self.keys = list(self.reader.image_keys())[:24]
        self.aug, self.keyed = aug, keyed

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple[int, bool, str]:
        key = self.keys[index]
        image = decode_rgb(self.reader.read(key).data)
        out = self.aug(image=image, key=key) if self.keyed else self.aug(image=image)
        return key, out["masked"], digest(out)


def _load_all(dataset: CropDataset, workers: int, context: str | None = None) -> list[tuple]:
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        multiprocessing_context=context if workers else None,
    )
    return [(int(key), bool(masked), text) for key, masked, text in loader]


@pytest.mark.torch
@pytest.mark.parametrize("context", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_dataloader_workers_give_the_keyed_outputs(lfw_mini: Path, context: str):
    dataset = CropDataset(lfw_mini, MaskAugment(p=0.5, seed=21), keyed=True)
    in_process = _load_all(dataset, workers=0)
    assert _load_all(dataset, workers=2, context=context) == in_process
    assert 0 < sum(masked for _, masked, _ in in_process) < len(in_process)


@pytest.mark.torch
def test_dataloader_workers_without_keys_differ_and_repeat_under_manual_seed(lfw_mini: Path):
    torch = pytest.importorskip("torch")
    dataset = CropDataset(lfw_mini, MaskAugment(p=0.5, seed=21), keyed=False)
    torch.manual_seed(0)
    first = _load_all(dataset, workers=2, context="fork")
    torch.manual_seed(0)
    assert _load_all(dataset, workers=2, context="fork") == first
    worker0 = [masked for _, masked, _ in first[0::2]]  # batch_size=None: items alternate
    worker1 = [masked for _, masked, _ in first[1::2]]
    assert worker0 != worker1
    torch.manual_seed(1)
    assert _load_all(dataset, workers=2, context="fork") != first


@pytest.mark.torch
def test_forked_workers_after_the_parent_used_opencv_threads(lfw_mini: Path):
    """A forked worker must not touch OpenCV's thread pool setup: after the parent's pool has
    run and gone idle, cv2.setNumThreads in the child hangs it (a regression test)."""
    torch = pytest.importorskip("torch")
    big = np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), dtype=np.uint8)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(max(threads, 2))
    try:
        cv2.GaussianBlur(big, (31, 31), 5)  # the parent's pool runs, then goes idle
        time.sleep(0.5)
        dataset = CropDataset(lfw_mini, MaskAugment(p=1.0, face_checks=False).preload(), keyed=True)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, num_workers=1, multiprocessing_context="fork", timeout=120
        )
        assert all(masked for _, masked, _ in loader)
    finally:
        cv2.setNumThreads(threads)


# --- the same image as `maskgen augment` ---------------------------------------------------------


@pytest.mark.slow
def test_keyed_output_is_the_twin_that_augment_writes(lfw_mini: Path, crops, tmp_path: Path):
    """Every record of lfw-mini: MaskAugment(p=1) with the run's seed and options, encoded as
    the pipeline encodes (JPEG 95), is byte for byte the twin's record, and its params are the
    manifest row's."""
    options = {"mask_types": ("surgical", "cloth", "kn95"), "color_prob": 0.6, "texture_prob": 0.4}
    augment_dataset(
        lfw_mini, tmp_path, spec=MaskSpec(**options), seed=31, workers=1, progress=False
    )
    rows = {
        row["key"]: row
        for row in map(json.loads, (tmp_path / "manifest.jsonl").read_text().splitlines())
    }
    aug = MaskAugment(p=1.0, seed=31, **options)
    with RecordIOReader(tmp_path / "train.rec") as twin:
        for key, image in crops.items():
            out = aug(image=image, key=key)
            row = rows[key]
            assert out["masked"] == row["masked"]
            assert out["params"]["faces_not_masked"] == row["faces_not_masked"]
            if not row["masked"]:  # a face the checks left unmasked: the same in both
                assert out["params"]["reason"] == row["reason"] and out["image"] is image
                continue
            assert encode_image(out["image"], "jpeg", 95, key) == twin.read(key).data
            for field in ("mask_type", "color", "texture", "reason"):
                assert out["params"][field] == row[field], (key, field)
            faces = row["faces"]  # a count; a per-face list once the manifest has one
            assert len(out["params"]["faces"]) == (faces if isinstance(faces, int) else len(faces))


# --- the examples in docs/mask_augment.md --------------------------------------------------------


def doc_examples() -> list[str]:
    text = (REPO / "docs" / "mask_augment.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("number", range(4))
def test_doc_examples_run(number: int, lfw_mini: Path, some):
    """Each example of docs/mask_augment.md, on lfw-mini in place of faces_emore, in process."""
    pytest.importorskip("torch")
    assert len(doc_examples()) == 4
    code = doc_examples()[number]
    if "import albumentations" in code:
        pytest.importorskip("albumentations")
    code = (
        code.replace('"faces_emore/train.rec"', repr(str(lfw_mini)))
        .replace('"faces_emore"', repr(str(lfw_mini.parent)))
        .replace("num_workers=8", "num_workers=0")
    )
    key, image = next(iter(some.items()))
    namespace = {"rgb": image, "index": key}
    exec(compile(code, f"docs/mask_augment.md example {number + 1}", "exec"), namespace)
    if "mask_labels" in namespace:  # a loader ran to the end: flags are 0/1, images normalised
        assert set(namespace["mask_labels"].tolist()) <= {0, 1}
        images = namespace.get("images", namespace.get("img"))
        assert images.shape[1:] == (3, 112, 112) and -1.0 <= float(images.min()) < 0.0
    else:
        assert namespace["out"]["image"].shape == image.shape


@pytest.mark.shared
def test_a_whole_photo_in_aligned_mode_is_warned_of(lfw_dir: Path, some) -> None:
    """face_mode="aligned" is the default and takes any image for an aligned crop: a new user
    fed whole LFW photos and got masks over the chin and neck, labelled masked, without a
    word. A photo larger than aligned crops are now warns; an aligned crop does not."""
    import warnings

    from tests.conftest import lfw_sample_paths

    photo = cv2.cvtColor(cv2.imread(str(lfw_sample_paths(lfw_dir, 1)[0])), cv2.COLOR_BGR2RGB)
    aug = MaskAugment(p=1.0, seed=0)
    with pytest.warns(UserWarning, match=r"this one is 250x250.*give face_mode='auto' for photos"):
        aug(image=photo, key=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aug(image=next(iter(some.values())), key=1)
        MaskAugment(p=1.0, seed=0, face_mode="auto")(image=photo, key=0)
