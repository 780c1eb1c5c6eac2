import numpy as np
import pytest
from PIL import Image

from edgekit.errors import CalibrationError
from edgekit.models.base import TensorSpec
from edgekit.quantize.calibration import ImageOptions, load_data, random_data, split

SPEC = TensorSpec("image", (None, 8, 8, 1))


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_labels_and_npy(tmp_path):
    x = np.random.default_rng(0).random((30, 8, 8, 1)).astype(np.float64)
    ds = load_data(_npz(tmp_path / "d.npz", x=x, y=np.arange(30) % 10), SPEC)
    assert ds.x.dtype == np.float32 and ds.x.shape == (30, 8, 8, 1) and ds.kind == "npz"
    assert list(ds.y[:3]) == [0, 1, 2]
    np.save(tmp_path / "d.npy", x)
    ds2 = load_data(tmp_path / "d.npy", SPEC)
    assert ds2.y is None and ds2.sha256 == ds.sha256  # same samples, same hash


def test_one_hot_labels_become_indices(tmp_path):
    x = np.zeros((4, 8, 8, 1), np.float32)
    y = np.eye(10)[[3, 1, 4, 1]]
    assert list(load_data(_npz(tmp_path / "d.npz", x=x, y=y), SPEC).y) == [3, 1, 4, 1]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((5, 28, 28, 1))}, r"samples have shape \(28, 28, 1\) but the model's input 'image' takes \(8, 8, 1\)"),
        ({"x": np.zeros((5, 8, 8))}, r"samples have shape \(8, 8\)"),
        ({"x": np.zeros((0, 8, 8, 1))}, r"holds no samples"),
        ({"inputs": np.zeros((5, 8, 8, 1))}, r"needs an array named 'x'.*it has: inputs"),
        ({"x": np.zeros((5, 8, 8, 1)), "y": np.zeros(4)}, r"4 labels for 5 samples"),
        ({"x": np.array(["a"] * 5)}, r"expected numbers"),
    ],
)
def test_bad_arrays(tmp_path, arrays, message):
    with pytest.raises(CalibrationError, match=message):
        load_data(_npz(tmp_path / "d.npz", **arrays), SPEC)


def test_nan_and_inf_are_refused_with_the_index(tmp_path):
    x = np.zeros((6, 8, 8, 1), np.float32)
    x[4, 1, 1, 0] = np.nan
    x[5, 0, 0, 0] = np.inf
    with pytest.raises(CalibrationError, match=r"2 sample\(s\) contain NaN or Inf \(first at index 4\)"):
        load_data(_npz(tmp_path / "d.npz", x=x), SPEC)


def test_missing_and_wrong_kind(tmp_path):
    with pytest.raises(CalibrationError, match="no such file"):
        load_data(tmp_path / "nope.npz", SPEC)
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(CalibrationError, match=r"must be \.npy, \.npz or a folder of images"):
        load_data(tmp_path / "d.csv", SPEC)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CalibrationError, match="cannot read this array file"):
        load_data(tmp_path / "broken.npz", SPEC)


def _images(folder, n, classes=None, size=(20, 30)):
    rng = np.random.default_rng(1)
    for c in classes or [None]:
        d = folder / c if c else folder
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)).save(d / f"{i}.png")


def test_image_folder_with_classes_resized_and_normalised(tmp_path):
    _images(tmp_path / "imgs", 3, classes=["cat", "dog"])
    ds = load_data(tmp_path / "imgs", SPEC)
    assert ds.x.shape == (6, 8, 8, 1) and ds.classes == ["cat", "dog"]
    assert list(ds.y) == [0, 0, 0, 1, 1, 1]
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    ds2 = load_data(tmp_path / "imgs", SPEC, ImageOptions(normalize="-1..1"))
    np.testing.assert_allclose(ds2.x, ds.x * 2 - 1, atol=1e-5)
    rgb = TensorSpec("x", (None, 3, 16, 16))  # channels-first (ONNX style)
    ds3 = load_data(tmp_path / "imgs", rgb, ImageOptions(normalize="mean-std", mean=(0.5,), std=(0.25,)))
    assert ds3.x.shape == (6, 3, 16, 16) and ds3.x.min() >= -2.0 and ds3.x.max() <= 2.0


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="no images found"):
        load_data(tmp_path / "empty", SPEC)
    _images(tmp_path / "bad", 1)
    (tmp_path / "bad" / "x.png").write_bytes(b"not an image")
    with pytest.raises(CalibrationError, match=r"x\.png: not a readable image"):
        load_data(tmp_path / "bad", SPEC)
    with pytest.raises(CalibrationError, match="needs a model input of rank 4"):
        load_data(tmp_path / "bad", TensorSpec("v", (None, 10)))


def test_mean_std_options_are_validated():
    with pytest.raises(ValueError, match="'mean-std' needs both --mean and --std"):
        ImageOptions(normalize="mean-std", mean=(0.5,))
    with pytest.raises(ValueError, match="only used with --normalize mean-std"):
        ImageOptions(mean=(0.5,))


def test_split_is_seeded_disjoint_and_capped():
    ds = random_data(SPEC, 100, seed=3)
    calib, held = split(ds, 50, seed=7, holdout=True)
    calib2, held2 = split(ds, 50, seed=7, holdout=True)
    assert calib.sha256 == calib2.sha256 and held.sha256 == held2.sha256
    assert len(held) == 20 and len(calib) == 50
    flat = {a.tobytes() for a in calib.x} & {a.tobytes() for a in held.x}
    assert not flat  # disjoint
    assert split(ds, 50, seed=8, holdout=True)[0].sha256 != calib.sha256
    assert split(ds, 500, seed=7, holdout=False)[1] is None
    assert len(split(ds, 500, seed=7, holdout=False)[0]) == 100


def test_npz_with_one_array_per_input_in_any_order(tmp_path):
    specs = [TensorSpec("image", (None, 4, 4, 1)), TensorSpec("aux", (None, 3))]
    rng = np.random.default_rng(0)
    img, aux = rng.random((6, 4, 4, 1)), rng.random((6, 3))
    ds = load_data(_npz(tmp_path / "d.npz", aux=aux, y=np.arange(6), image=img), specs)
    assert list(ds.inputs) == ["image", "aux"] and ds.x.names == ["image", "aux"]
    assert np.allclose(ds.x[0], img) and np.allclose(ds.x[1], aux) and len(ds) == 6
    part = ds.take(np.array([4, 1]))
    assert np.allclose(part.inputs["aux"], aux[[4, 1]]) and list(part.y) == [4, 1]
    assert ds.sha256 != load_data(_npz(tmp_path / "e.npz", aux=aux + 1, image=img), specs).sha256
    with pytest.raises(CalibrationError, match="no array for input 'aux'.*it has: image"):
        load_data(_npz(tmp_path / "f.npz", image=img), specs, describe="the model's inputs: ...")
    with pytest.raises(CalibrationError, match="different numbers of samples"):
        load_data(_npz(tmp_path / "g.npz", image=img, aux=aux[:5]), specs)
    with pytest.raises(CalibrationError, match="feeds one image input"):
        load_data(tmp_path, specs)
