"""Tests for convnetjs_keras.data: reading datasets, image preprocessing and augmentation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convnetjs_keras.data import (
    Augmentation,
    augment_batch,
    augment_example,
    centre_crop,
    example_shape,
    list_image_classes,
    load_dataset,
    parse_augment,
    preprocess_image,
)
from convnetjs_keras.errors import DataError

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [
        ((None, 24, 24, 1), (24, 24, 1)),
        ((8, 6, 3), (8, 6, 3)),
        ((None, 5), (5,)),
    ],
    ids=["keras-input-shape", "per-example", "vector"],
)
def test_example_shape_accepts_keras_shapes(given, expected):
    assert example_shape(given) == expected


def test_example_shape_reads_convnetjs_shape():
    from convnetjs_keras.converters.base import Shape

    assert example_shape(Shape(sx=6, sy=8, depth=3)) == (8, 6, 3)
    assert example_shape(Shape(sx=1, sy=1, depth=7)) == (7,)


# ---------------------------------------------------------------------------
# .npz
# ---------------------------------------------------------------------------


def _npz(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "x_shape",
    [(6, 4, 3, 2), (6, 24)],
    ids=["nhwc", "flat-vectors"],
)
def test_npz_examples_reshape_to_input(tmp_path, x_shape):
    x = np.arange(np.prod(x_shape), dtype=np.float64).reshape(x_shape)
    path = _npz(tmp_path, x=x, y=np.arange(6) % 3)
    loaded_x, loaded_y = load_dataset(path, (None, 4, 3, 2), "classification", num_outputs=3)
    assert loaded_x.shape == (6, 4, 3, 2)
    assert loaded_x.dtype == np.float32
    # Flat vectors are in ConvNetJS's Vol order, which is NHWC row-major.
    np.testing.assert_array_equal(loaded_x.reshape(6, -1), x.reshape(6, -1))
    assert loaded_y.dtype == np.int64
    np.testing.assert_array_equal(loaded_y, [0, 1, 2, 0, 1, 2])


def test_npz_grey_images_get_channel_axis(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 5, 5)), y=np.array([0, 1, 0]))
    x, _ = load_dataset(path, (5, 5, 1), "classification", num_outputs=2, dtype="float64")
    assert x.shape == (3, 5, 5, 1)
    assert x.dtype == np.float64


def test_npz_vector_input_takes_flat_rows(tmp_path):
    path = _npz(tmp_path, x=np.ones((4, 1, 1, 3)), y=np.zeros((4, 2)))
    x, y = load_dataset(path, (3,), "regression", num_outputs=2)
    assert x.shape == (4, 3)
    assert y.shape == (4, 2)


def test_npz_wrong_shape_names_expected(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 6, 6, 1)), y=np.zeros(3, dtype=int))
    with pytest.raises(DataError) as caught:
        load_dataset(path, (5, 5, 1), "classification", num_outputs=2)
    message = str(caught.value)
    assert str(path) in message
    assert "(N, 6, 6, 1)" in message
    assert "expected (N, 5, 5, 1) or flat vectors (N, 25)" in message


def test_npz_missing_labels_names_arrays(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 4)), labels=np.zeros(3))
    with pytest.raises(DataError, match=r"has no array 'y'; found \['labels', 'x'\]"):
        load_dataset(path, (4,), "classification", num_outputs=2)


def test_npz_label_out_of_range_rejected(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 4)), y=np.array([0, 3, 1]))
    with pytest.raises(DataError, match=r"label 3 at index 1 is invalid; expected an integer class index from 0 to 2"):
        load_dataset(path, (4,), "classification", num_outputs=3)


def test_npz_fractional_label_rejected(tmp_path):
    path = _npz(tmp_path, x=np.zeros((2, 4)), y=np.array([0.0, 1.5]))
    with pytest.raises(DataError, match=r"label 1.5 at index 1"):
        load_dataset(path, (4,), "classification", num_outputs=3)


def test_npz_label_count_must_match(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 4)), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"has 2 labels for 3 examples"):
        load_dataset(path, (4,), "classification", num_outputs=3)


def test_npz_nan_example_rejected(tmp_path):
    x = np.zeros((3, 4))
    x[2, 1] = np.nan
    path = _npz(tmp_path, x=x, y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match=r"NaN or infinity \(1 examples, the first at index 2\)"):
        load_dataset(path, (4,), "classification", num_outputs=2)


def test_npz_regression_target_width_checked(tmp_path):
    path = _npz(tmp_path, x=np.zeros((3, 4)), y=np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"regression network has 2 outputs, so expected targets shaped \(N, 2\)"):
        load_dataset(path, (4,), "regression", num_outputs=2)


def test_npz_object_array_rejected(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([[1], "a"], dtype=object), y=np.zeros(2))
    with pytest.raises(DataError, match="cannot be read as an .npz archive of numeric arrays"):
        load_dataset(path, (1,), "classification", num_outputs=2)


def test_missing_file_reported(tmp_path):
    with pytest.raises(DataError, match="missing.npz: file not found"):
        load_dataset(tmp_path / "missing.npz", (4,), "classification", num_outputs=2)


def test_unknown_suffix_rejected(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("1,2\n")
    with pytest.raises(DataError, match=r"has suffix '.txt'; expected an .npz file, a .csv file or a folder"):
        load_dataset(path, (1,), "classification", num_outputs=2)


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------


def test_csv_classification_skips_header(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,c,d,label\n1,2,3,4,0\n5,6,7,8,2\n\n")
    x, y = load_dataset(path, (2, 2, 1), "classification", num_outputs=3)
    assert x.shape == (2, 2, 2, 1)
    np.testing.assert_array_equal(x[1, :, :, 0], [[5, 6], [7, 8]])
    np.testing.assert_array_equal(y, [0, 2])


def test_csv_regression_reads_target_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3,0.5,-0.5\n4,5,6,1.5,2.5\n")
    x, y = load_dataset(path, (3,), "regression", num_outputs=2)
    np.testing.assert_array_equal(x, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(y, [[0.5, -0.5], [1.5, 2.5]])


def test_csv_column_count_names_expected(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3,0\n")
    with pytest.raises(DataError, match=r"has 4 columns; expected 5: 4 features .* followed by the class index"):
        load_dataset(path, (2, 2, 1), "classification", num_outputs=2)


def test_csv_bad_cell_names_row_and_column(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x1,x2,y\n1,2,0\n3,abc,1\n")
    with pytest.raises(DataError) as caught:
        load_dataset(path, (2,), "classification", num_outputs=2)
    assert str(caught.value) == f"{path}: row 3, column 2: found 'abc', expected a number."


def test_csv_ragged_row_reported(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,0\n3,4\n")
    with pytest.raises(DataError, match="row 2 has 2 columns, expected 3 as in row 1"):
        load_dataset(path, (2,), "classification", num_outputs=2)


def test_csv_bad_label_names_row(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("h1,h2,label\n1,2,0\n3,4,7\n")
    with pytest.raises(DataError, match=r"label 7.0 at row 3 is invalid"):
        load_dataset(path, (2,), "classification", num_outputs=2)


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------


def test_preprocess_grey_image_scales_pixels():
    pixels = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    x = preprocess_image(Image.fromarray(pixels, mode="L"), (2, 2, 1), dtype="float64")
    assert x.shape == (2, 2, 1)
    np.testing.assert_allclose(x[:, :, 0], pixels / 255.0 - 0.5)


def test_preprocess_depth_one_keeps_red_channel():
    # convnetjs.img_to_vol(img, true) keeps channel 0, not the luminance.
    rgb = np.zeros((1, 1, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    x = preprocess_image(Image.fromarray(rgb, mode="RGB"), (1, 1, 1))
    assert x[0, 0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("depth", [3, 4], ids=["rgb", "rgba"])
def test_preprocess_colour_keeps_channels(depth):
    rgba = np.array([[[10, 20, 30, 40]]], dtype=np.uint8)
    x = preprocess_image(Image.fromarray(rgba, mode="RGBA"), (1, 1, depth), dtype="float64")
    np.testing.assert_allclose(x[0, 0], rgba[0, 0, :depth] / 255.0 - 0.5)


def test_preprocess_resizes_and_centre_crops():
    # A 20x10 (width x height) image with a bright right half: covering 5x5 scales it to 10x5
    # and keeps the middle 5 columns, so the left 2 are dark and the right 2 bright.
    pixels = np.zeros((10, 20), dtype=np.uint8)
    pixels[:, 10:] = 255
    x = preprocess_image(Image.fromarray(pixels, mode="L"), (5, 5, 1))
    assert x.shape == (5, 5, 1)
    assert np.all(x[:, :2, 0] == -0.5)
    assert np.all(x[:, 3:, 0] == 0.5)


def test_preprocess_rejects_depth_two():
    with pytest.raises(DataError, match=r"cannot take images; expected \(height, width, depth\) with depth 1"):
        preprocess_image(Image.new("L", (2, 2)), (2, 2, 2))


def _image_folder(tmp_path, classes, size=(6, 6), per_class=2):
    folder = tmp_path / "images"
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for index in range(per_class):
            value = 40 * label + index
            Image.new("L", size, color=value).save(folder / name / f"{index}.png")
    return folder


def test_image_folder_labels_follow_sorted_names(tmp_path):
    folder = _image_folder(tmp_path, ["b_cat", "a_dog"])
    (folder / "a_dog" / "notes.txt").write_text("not an image")
    assert [name for name, _ in list_image_classes(folder)] == ["a_dog", "b_cat"]
    x, y = load_dataset(folder, (4, 4, 1), "classification", num_outputs=2)
    assert x.shape == (4, 4, 4, 1)
    np.testing.assert_array_equal(y, [0, 0, 1, 1])
    # a_dog was written with grey level 40 + index, b_cat with 0 + index.
    assert x[0, 0, 0, 0] == pytest.approx(40 / 255 - 0.5)
    assert x[2, 0, 0, 0] == pytest.approx(0 / 255 - 0.5)


def test_image_folder_without_classes_rejected(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.new("L", (4, 4)).save(folder / "0.png")
    with pytest.raises(DataError, match="has no class subfolders"):
        load_dataset(folder, (4, 4, 1), "classification", num_outputs=2)


def test_image_folder_too_many_classes_rejected(tmp_path):
    folder = _image_folder(tmp_path, ["a", "b", "c"])
    with pytest.raises(DataError, match="has 3 class subfolders, but the network has 2 classes"):
        load_dataset(folder, (4, 4, 1), "classification", num_outputs=2)


def test_image_folder_needs_classification(tmp_path):
    folder = _image_folder(tmp_path, ["a"])
    with pytest.raises(DataError, match="regression network"):
        load_dataset(folder, (4, 4, 1), "regression", num_outputs=2)


def test_unreadable_image_named(tmp_path):
    folder = _image_folder(tmp_path, ["a", "b"])
    broken = folder / "b" / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken.png: cannot be read as an image"):
        load_dataset(folder, (4, 4, 1), "classification", num_outputs=2)


def test_image_folder_crop_keeps_image_size(tmp_path):
    folder = _image_folder(tmp_path, ["a", "b"], size=(7, 7))
    x, _ = load_dataset(folder, (5, 5, 1), "classification", num_outputs=2, crop=5)
    assert x.shape == (4, 7, 7, 1)


# ---------------------------------------------------------------------------
# Crops and augmentation
# ---------------------------------------------------------------------------


def test_crop_keeps_uncropped_examples(tmp_path):
    path = _npz(tmp_path, x=np.zeros((2, 28 * 28)), y=np.array([0, 1]))
    x, _ = load_dataset(path, (24, 24, 1), "classification", num_outputs=10, crop=24)
    assert x.shape == (2, 28, 28, 1)


def test_crop_must_match_input(tmp_path):
    path = _npz(tmp_path, x=np.zeros((2, 28, 28, 1)), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"crop=20 does not match the network input \(N, 24, 24, 1\)"):
        load_dataset(path, (24, 24, 1), "classification", num_outputs=10, crop=20)


def test_crop_rejects_small_images(tmp_path):
    path = _npz(tmp_path, x=np.zeros((2, 20, 20, 1)), y=np.array([0, 1]))
    with pytest.raises(DataError, match=r"images are 20x20 \(height x width\), smaller than crop=24"):
        load_dataset(path, (24, 24, 1), "classification", num_outputs=10, crop=24)


def test_centre_crop_takes_middle_window():
    x = np.arange(2 * 6 * 6).reshape(2, 6, 6, 1)
    np.testing.assert_array_equal(centre_crop(x, 4), x[:, 1:5, 1:5])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("shift=2,flip", Augmentation(shift=2, flip=True)),
        ("crop=24", Augmentation(crop=24)),
        (" flip=false , shift=0 ", Augmentation()),
        ("none", Augmentation()),
    ],
    ids=["shift-flip", "crop", "explicit-off", "none"],
)
def test_parse_augment_reads_items(text, expected):
    assert parse_augment(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("shift=-1", "shift='-1' is invalid; expected an integer >= 0"),
        ("crop=0", "crop='0' is invalid; expected an integer >= 1"),
        ("rotate=5", "unknown augmentation 'rotate=5'"),
        ("flip,flip", "'flip' is given twice"),
        ("flip=maybe", "flip='maybe' is invalid"),
    ],
    ids=["negative-shift", "zero-crop", "unknown", "twice", "bad-flip"],
)
def test_parse_augment_rejects_invalid(text, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        parse_augment(text)


def _node_augment(volume, crop, dx, dy, fliplr):
    """Run convnetjs.augment in Node.js on an (sy, sx, depth) array."""
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "convnetjs").is_dir():
        pytest.skip("Node.js or node_modules/convnetjs is missing; run npm ci")
    height, width, depth = volume.shape
    script = (
        "const convnetjs = require(require.resolve('convnetjs', {paths: [process.cwd()]}));"
        "const request = JSON.parse(process.argv[1]);"
        "const V = new convnetjs.Vol(request.sx, request.sy, request.depth, 0.0);"
        "for (let i = 0; i < request.w.length; i++) V.w[i] = request.w[i];"
        "const W = convnetjs.augment(V, request.crop, request.dx, request.dy, request.fliplr);"
        "process.stdout.write(JSON.stringify({sx: W.sx, sy: W.sy, depth: W.depth, w: Array.from(W.w)}));"
    )
    request = {"sx": width, "sy": height, "depth": depth, "w": volume.ravel().tolist(), "crop": crop,
               "dx": dx, "dy": dy, "fliplr": fliplr}
    completed = subprocess.run([node, "-e", script, json.dumps(request)], cwd=REPO_ROOT, capture_output=True,
                               text=True, check=True, timeout=60)
    result = json.loads(completed.stdout)
    return np.array(result["w"]).reshape(result["sy"], result["sx"], result["depth"])


AUGMENT_CASES = [
    (6, 0, 0, False),
    (6, 2, -1, False),
    (6, -2, 2, True),
    (4, 1, 2, False),
    (4, 0, 0, True),
    (6, 5, 0, False),
]


@pytest.mark.parametrize("crop, dx, dy, fliplr", AUGMENT_CASES,
                         ids=["identity", "shift", "shift-flip", "crop", "crop-flip", "shift-out"])
def test_augment_example_matches_convnetjs(crop, dx, dy, fliplr):
    volume = np.arange(6 * 6 * 2, dtype=np.float64).reshape(6, 6, 2) + 1.0
    expected = _node_augment(volume, crop, dx, dy, fliplr)
    np.testing.assert_array_equal(augment_example(volume, crop, dx, dy, fliplr), expected)


def _matching_draws(original, augmented, augmentation):
    """Return every (crop dx, crop dy, shift dx, shift dy, flip) that turns original into augmented."""
    height, width, _ = original.shape
    crops = [(0, 0)] if augmentation.crop is None else [
        (dx, dy) for dx in range(max(width - augmentation.crop, 1)) for dy in range(max(height - augmentation.crop, 1))]
    shifts = [(dx, dy) for dx in range(-augmentation.shift, augmentation.shift + 1)
              for dy in range(-augmentation.shift, augmentation.shift + 1)]
    flips = [False, True] if augmentation.flip else [False]
    matches = []
    for crop_dx, crop_dy in crops:
        cropped = original if augmentation.crop is None else augment_example(original, augmentation.crop,
                                                                              crop_dx, crop_dy)
        for dx, dy in shifts:
            for flip in flips:
                candidate = augment_example(cropped, cropped.shape[1], dx, dy, flip)
                if np.array_equal(candidate, augmented):
                    matches.append((crop_dx, crop_dy, dx, dy, flip))
    return matches


@pytest.mark.parametrize(
    "augmentation",
    [Augmentation(shift=2, flip=True), Augmentation(crop=5), Augmentation(crop=5, shift=1)],
    ids=["shift-flip", "crop", "crop-shift"],
)
def test_augment_batch_draws_convnetjs_augmentations(augmentation):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    # Distinct values everywhere, so each augmented example identifies its draw.
    images = rng.permutation(40 * 8 * 8).reshape(40, 8, 8, 1).astype(np.float32) + 1.0
    augmented = augment_batch(tf.constant(images), tf.constant([3, 4], dtype=tf.int64), augmentation).numpy()
    size = augmentation.crop or 8
    assert augmented.shape == (40, size, size, 1)
    draws = []
    for original, result in zip(images, augmented):
        matches = _matching_draws(original, result, augmentation)
        assert matches, "an augmented example matches no ConvNetJS augmentation"
        draws.append(matches[0])
    draws = np.array([draw[:4] + (int(draw[4]),) for draw in draws])
    if augmentation.crop is not None:
        # randi(0, 8 - 5) gives offsets 0, 1 and 2, never 3.
        assert draws[:, 0].max() == 2
        assert draws[:, 0].min() == 0
    if augmentation.shift:
        assert set(draws[:, 2]) == set(range(-augmentation.shift, augmentation.shift + 1))
    if augmentation.flip:
        assert 0 < draws[:, 4].sum() < len(draws)


def test_augment_batch_seed_fixes_draws():
    import tensorflow as tf

    images = tf.constant(np.arange(4 * 6 * 6, dtype=np.float32).reshape(4, 6, 6, 1))
    augmentation = Augmentation(shift=2, flip=True)
    seed = tf.constant([7, 8], dtype=tf.int64)
    first = augment_batch(images, seed, augmentation).numpy()
    second = augment_batch(images, seed, augmentation).numpy()
    np.testing.assert_array_equal(first, second)
