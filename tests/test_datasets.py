"""Finite datasets: the IDX reader, MNIST, user array files, epoch order, the registry."""

from __future__ import annotations

import gzip
import hashlib
import json

import h5py
import numpy as np
import pytest

from deepinit.datasets import get_dataset
from deepinit.datasets import arrays as arrays_mod
from deepinit.datasets import mnist
from deepinit.datasets.finite import FiniteDataset
from deepinit.datasets.idx import read_idx, write_idx
from deepinit.errors import DeepinitError

OFFICIAL_T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
OFFICIAL_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


# -- real MNIST test set ----------------------------------------------------------


def test_real_t10k_files_are_the_official_bytes(mnist_dir):
    for name, md5 in OFFICIAL_MD5.items():
        assert hashlib.md5((mnist_dir / name).read_bytes()).hexdigest() == md5, name


def test_read_idx_on_real_t10k(mnist_dir):
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == OFFICIAL_T10K_COUNTS
    assert images.max() == 255 and images.min() == 0
    # The widely quoted test-set pixel mean and std (after /255): 0.1325 and 0.3105.
    assert abs(images.mean() / 255 - 0.1325) < 1e-4 and abs((images / 255).std() - 0.3105) < 1e-4


def test_mnist_test_set_fixture(mnist_dir, mnist_test_set):
    X, y = mnist_test_set
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert X.shape == (10000, 784) and X.dtype == np.float32 and y.dtype == np.int32
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X[123].reshape(28, 28), images[123].astype(np.float32) / np.float32(255))
    assert np.bincount(y).tolist() == OFFICIAL_T10K_COUNTS


# -- IDX reader/writer ------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    array = (np.arange(2 * 3 * 5) * 7 % 100 - (0 if dtype.startswith("u") else 50)).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_idx_header_is_big_endian_and_gzip_is_reproducible(tmp_path):
    write_idx(tmp_path / "a.idx", np.array([1, 258], dtype=np.int16))
    assert (tmp_path / "a.idx").read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 1, 2])
    write_idx(tmp_path / "b.gz", np.zeros(3, np.uint8))
    first = (tmp_path / "b.gz").read_bytes()
    write_idx(tmp_path / "b.gz", np.zeros(3, np.uint8))
    assert (tmp_path / "b.gz").read_bytes() == first


def _write_bytes(path, data, compress):
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


GOOD = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "data, message",
    [
        (b"hello, world", "not an IDX file"),
        (b"", "not an IDX file"),
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "not an IDX file"),  # bad magic
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]), "not an IDX file"),  # unknown type code
        (bytes([0, 0, 8, 0]), "not an IDX file"),  # zero dimensions
        (GOOD[:10], "truncated inside its header"),
        (GOOD[:-1], "is truncated"),
        (GOOD + b"\0", "longer than its header says"),
    ],
)
def test_read_idx_rejects_bad_content(tmp_path, data, message, compress):
    path = _write_bytes(tmp_path / "bad-idx1-ubyte.gz", data, compress)
    with pytest.raises(DeepinitError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_accepts_good_content(tmp_path):
    path = _write_bytes(tmp_path / "good.gz", GOOD, True)
    np.testing.assert_array_equal(read_idx(path), np.arange(6).reshape(2, 3))


def test_read_idx_rejects_broken_gzip(tmp_path):
    packed = gzip.compress(GOOD * 1000, mtime=0)
    truncated = _write_bytes(tmp_path / "truncated.gz", packed[: len(packed) // 2], False)
    with pytest.raises(DeepinitError, match="truncated gzip") as info:
        read_idx(truncated)
    assert str(truncated) in str(info.value)
    corrupt = bytearray(packed)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 8] = b"\xff" * 8
    path = _write_bytes(tmp_path / "corrupt.gz", bytes(corrupt), False)
    with pytest.raises(DeepinitError, match="corrupt gzip"):
        read_idx(path)
    with pytest.raises(DeepinitError, match="cannot read IDX file"):
        read_idx(tmp_path / "absent.gz")


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(DeepinitError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "a.idx", np.zeros(3, np.int64))


# -- MNIST from a small synthetic data directory ----------------------------------


def _digits(start, n):
    """n 28x28 uint8 images whose pixel (0, 0) is its id start+i, labels (id * 7) % 10."""
    ids = np.arange(start, start + n)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = ids
    images[:, 14, 14] = 255
    return images, (ids * 7 % 10).astype(np.uint8)


def _write_mnist(directory, n_train=120, n_test=30, compress=True):
    """A data dir: training files with ids 0..n_train-1, t10k files with ids 200..200+n_test-1."""
    directory.mkdir(parents=True, exist_ok=True)
    for (images_name, labels_name), (start, n) in zip(
        [(mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS), (mnist.TEST_IMAGES, mnist.TEST_LABELS)],
        [(0, n_train), (200, n_test)],
    ):
        images, labels = _digits(start, n)
        for name, array in [(images_name, images), (labels_name, labels)]:
            write_idx(directory / (name if compress else name.removesuffix(".gz")), array)
    return directory


def _ids(X):
    return np.rint(X[:, 0] * 255).astype(int).tolist()


def test_mnist_make_splits_like_the_paper(tmp_path):
    ds = mnist.make(seed=3, data_dir=_write_mnist(tmp_path / "d"), valid_size=20)
    assert (ds.n_train, ds.n_inputs, ds.n_classes, ds.image_shape) == (100, 784, 10, (28, 28))
    assert ds.class_names == tuple("0123456789") and ds.name == "mnist" and ds.seed == 3
    X_train, y_train = ds.train_set()
    X_valid, y_valid = ds.split("valid")
    X_test, y_test = ds.split("test")
    # Train = the first 100 examples of the training files, valid = the last 20, test = t10k.
    assert _ids(X_train) == list(range(100))
    assert _ids(X_valid) == list(range(100, 120))
    assert _ids(X_test) == list(range(200, 230))
    for X, y in [(X_train, y_train), (X_valid, y_valid), (X_test, y_test)]:
        assert X.dtype == np.float32 and y.dtype == np.int32
        assert y.tolist() == [i * 7 % 10 for i in _ids(X)]
        assert np.all(X[:, 14 * 28 + 14] == 1.0)
    desc = json.loads(json.dumps(ds.describe()))
    assert (desc["n_train"], desc["n_valid"], desc["n_test"], desc["valid_size"]) == (100, 20, 30, 20)


def test_mnist_accepts_uncompressed_files(tmp_path):
    ds = mnist.make(data_dir=_write_mnist(tmp_path, compress=False), valid_size=10)
    assert (ds.n_train, len(ds.split("test")[1])) == (110, 30)


@pytest.mark.parametrize("valid_size", [0, 120, 500, 2.5, True])
def test_mnist_rejects_bad_valid_size(tmp_path, valid_size):
    with pytest.raises(DeepinitError, match="valid-size"):
        mnist.make(data_dir=_write_mnist(tmp_path), valid_size=valid_size)


def test_mnist_default_valid_size_needs_the_full_training_files(tmp_path):
    with pytest.raises(DeepinitError, match="valid-size 10000"):
        mnist.make(data_dir=_write_mnist(tmp_path))


@pytest.mark.parametrize("subdir", ["", "mnist"])
def test_mnist_data_dir_from_environment(tmp_path, monkeypatch, subdir):
    _write_mnist(tmp_path / subdir if subdir else tmp_path)
    monkeypatch.setenv("DEEPINIT_DATA", str(tmp_path))
    assert mnist.make(valid_size=20).n_train == 100


def test_mnist_without_a_directory_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("DEEPINIT_DATA", raising=False)
    with pytest.raises(DeepinitError, match="--data-dir DIR or set DEEPINIT_DATA"):
        mnist.make()


def test_mnist_missing_files_are_named(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPINIT_DATA", raising=False)
    directory = _write_mnist(tmp_path)
    (directory / mnist.TRAIN_LABELS).unlink()
    with pytest.raises(DeepinitError, match=f"missing from {directory}.*{mnist.TRAIN_LABELS}.*--data-dir") as info:
        mnist.make(data_dir=directory, valid_size=20)
    assert mnist.TEST_IMAGES not in str(info.value).split(";")[0]
    with pytest.raises(DeepinitError, match="does not exist.*--data-dir"):
        mnist.make(data_dir=tmp_path / "nowhere")


def test_mnist_rejects_inconsistent_files(tmp_path):
    directory = _write_mnist(tmp_path)
    images, labels = _digits(0, 120)
    write_idx(directory / mnist.TRAIN_LABELS, labels[:119])
    with pytest.raises(DeepinitError, match="120 images but .* 119 labels"):
        mnist.make(data_dir=directory, valid_size=20)
    labels[5] = 10
    write_idx(directory / mnist.TRAIN_LABELS, labels)
    with pytest.raises(DeepinitError, match="labels above 9"):
        mnist.make(data_dir=directory, valid_size=20)
    write_idx(directory / mnist.TRAIN_LABELS, labels % 10)
    write_idx(directory / mnist.TRAIN_IMAGES, images[:, :27, :])
    with pytest.raises(DeepinitError, match=r"not \(n, 28, 28\) uint8"):
        mnist.make(data_dir=directory, valid_size=20)


# -- FiniteDataset: epoch order ---------------------------------------------------


def _finite(n=37, seed=0):
    """A dataset whose training label is the example's index, and X[i] encodes i too."""
    ids = np.arange(n)
    X = np.stack([ids / n, 1 - ids / n, np.full(n, 0.5)], axis=1)
    held_out = (X[:2], ids[:2])
    return FiniteDataset("ids", (X, ids), held_out, held_out, class_names=[str(i) for i in ids], seed=seed)


def _fetch(ds, start, n, dtype=np.float32):
    X, y = np.empty((n, ds.n_inputs), dtype), np.empty(n, np.int32)
    ds.fill_train(start, X, y)
    return X, y


def test_each_epoch_is_the_documented_permutation():
    ds = _finite(seed=5)
    _, y = _fetch(ds, 0, 4 * 37)
    for e in range(4):
        epoch = y[e * 37 : (e + 1) * 37]
        assert sorted(epoch) == list(range(37))  # every example exactly once
        np.testing.assert_array_equal(epoch, np.random.default_rng([5, e]).permutation(37))
    assert not np.array_equal(y[:37], y[37:74])  # a fresh order each epoch


def test_ranges_across_epoch_boundaries_match_single_example_fetches():
    ds, fresh = _finite(seed=1), _finite(seed=1)
    one_by_one = np.concatenate([_fetch(fresh, k, 1)[1] for k in range(200)])
    for start, n in [(0, 37), (30, 10), (36, 2), (5, 100), (70, 130), (111, 1), (0, 200)]:
        X, y = _fetch(ds, start, n)
        np.testing.assert_array_equal(y, one_by_one[start : start + n])
        np.testing.assert_array_equal(X, ds.train_set()[0][y])


def test_training_order_is_a_pure_function_of_seed_and_index():
    a, b = _finite(seed=7), _finite(seed=7)
    _fetch(b, 500, 60)  # a different cache state must not matter
    np.testing.assert_array_equal(_fetch(a, 20, 90)[1], _fetch(b, 20, 90)[1])
    assert not np.array_equal(_fetch(a, 0, 37)[1], _fetch(_finite(seed=8), 0, 37)[1])


def test_float64_buffers_get_the_same_values():
    ds = _finite(seed=2)
    X32, y32 = _fetch(ds, 30, 20)
    X64, y64 = _fetch(ds, 30, 20, np.float64)
    np.testing.assert_array_equal(y32, y64)
    np.testing.assert_array_equal(X64, X32.astype(np.float64))


def test_fill_train_writes_into_views_of_a_larger_buffer():
    ds = _finite()
    X, y = np.full((10, 3), -1.0, np.float32), np.full(10, -1, np.int32)
    ds.fill_train(35, X[2:7], y[2:7])
    np.testing.assert_array_equal(y[2:7], _fetch(ds, 35, 5)[1])
    assert (y[:2] == -1).all() and (y[7:] == -1).all() and (X[:2] == -1).all()


def test_fill_train_checks_its_buffers():
    ds = _finite()
    with pytest.raises(ValueError, match="X_out"):
        ds.fill_train(0, np.empty((4, 2), np.float32), np.empty(4, np.int32))
    with pytest.raises(ValueError, match="y_out"):
        ds.fill_train(0, np.empty((4, 3), np.float32), np.empty(4, np.int64))
    with pytest.raises(ValueError, match="start"):
        ds.fill_train(-1, np.empty((4, 3), np.float32), np.empty(4, np.int32))


def test_finite_dataset_splits_are_read_only_and_checked():
    ds = _finite()
    X, _ = ds.split("valid")
    with pytest.raises(ValueError):
        X[0, 0] = 0.25
    with pytest.raises(DeepinitError, match="unknown split"):
        ds.split("train")
    with pytest.raises(DeepinitError, match="seed"):
        _finite(seed=-1)
    ok = (np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(DeepinitError, match="outside"):
        FiniteDataset("d", (np.full((2, 3), 2.0), np.array([0, 1])), ok, ok, class_names=["a", "b"])
    with pytest.raises(DeepinitError, match=r"labels must be integers in \[0, 2\)"):
        FiniteDataset("d", ok, (ok[0], np.array([0, 2])), ok, class_names=["a", "b"])


# -- user array files -------------------------------------------------------------

N = 200


def _data(n=N, d=6, n_classes=4, seed=0):
    """Float inputs in [0, 1] whose column 0 is the example's id / n; labels cycle over the classes."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, d))
    x[:, 0] = np.arange(n) / n
    return x, np.arange(n) % n_classes


def _save(path, **arrays):
    """Write arrays to .npz, or to HDF5 datasets (attrs= a dict of root attributes)."""
    attrs = arrays.pop("attrs", {})
    if path.suffix == ".npz":
        np.savez(path, **arrays, **attrs)
    else:
        with h5py.File(path, "w") as f:
            for key, value in arrays.items():
                f.create_dataset(key, data=value)
            f.attrs.update(attrs)
    return path


def _split_ids(ds, n=N):
    train = ds.train_set()[0]
    return {s: np.rint(X[:, 0] * n).astype(int) for s, X in [("train", train), ("valid", ds.split("valid")[0]),
                                                               ("test", ds.split("test")[0])]}


@pytest.fixture(params=[".npz", ".h5"])
def ext(request):
    return request.param


def test_arrays_carves_default_splits(tmp_path, ext):
    x, y = _data()
    ds = arrays_mod.make(_save(tmp_path / f"d{ext}", x=x, y=y), seed=1)
    ids = _split_ids(ds)
    assert (len(ids["train"]), len(ids["valid"]), len(ids["test"])) == (160, 20, 20)
    assert sorted(np.concatenate(list(ids.values())).tolist()) == list(range(N))  # a partition
    for s, X in [("valid", ds.split("valid")), ("test", ds.split("test"))]:
        np.testing.assert_array_equal(X[1], y[ids[s]])  # labels travel with their inputs
    assert (ds.n_inputs, ds.n_classes, ds.class_names, ds.image_shape) == (6, 4, ("0", "1", "2", "3"), None)
    desc = json.loads(json.dumps(ds.describe()))
    assert desc["split_origin"] == {"valid": "carved from x/y with split seed 2010"} | {
        "test": "carved from x/y with split seed 2010"
    }
    assert desc["input_scaling"].startswith("none")


def test_arrays_evaluation_splits_do_not_depend_on_the_data_seed(tmp_path):
    x, y = _data()
    path = _save(tmp_path / "d.npz", x=x, y=y)
    a, b = arrays_mod.make(path, seed=0), arrays_mod.make(path, seed=99)
    for s in ("valid", "test"):
        np.testing.assert_array_equal(a.split(s)[0], b.split(s)[0])
    assert not np.array_equal(_fetch(a, 0, a.n_train)[0], _fetch(b, 0, b.n_train)[0])
    # The test split does not depend on valid_size either.
    c = arrays_mod.make(path, valid_size=0.3)
    np.testing.assert_array_equal(c.split("test")[0], a.split("test")[0])


@pytest.mark.parametrize(
    "valid_size, test_size, sizes",
    [(30, 50, (120, 30, 50)), (0.25, 0.1, (130, 50, 20)), (None, 1, (179, 20, 1)), (0.004, None, (179, 1, 20))],
)
def test_arrays_split_sizes_as_counts_and_fractions(tmp_path, ext, valid_size, test_size, sizes):
    x, y = _data()
    ds = arrays_mod.make(_save(tmp_path / f"d{ext}", x=x, y=y), valid_size=valid_size, test_size=test_size)
    assert (ds.n_train, len(ds.split("valid")[1]), len(ds.split("test")[1])) == sizes


@pytest.mark.parametrize("size", [0, -3, 1.0, 1.5, 0.0001, True, "10", 200, 0.95])
def test_arrays_rejects_bad_split_sizes(tmp_path, size):
    x, y = _data()
    with pytest.raises(DeepinitError, match="valid-size"):
        arrays_mod.make(_save(tmp_path / "d.npz", x=x, y=y), valid_size=size)


def test_arrays_uses_the_files_own_splits(tmp_path, ext):
    x, y = _data()
    path = _save(tmp_path / f"d{ext}", x=x[:150], y=y[:150], x_valid=x[150:180], y_valid=y[150:180],
                 x_test=x[180:], y_test=y[180:])
    ds = arrays_mod.make(path)
    ids = _split_ids(ds)
    assert ids["train"].tolist() == list(range(150))
    assert ids["valid"].tolist() == list(range(150, 180)) and ids["test"].tolist() == list(range(180, 200))
    assert ds.describe()["split_origin"] == {"valid": "file", "test": "file"}


def test_arrays_carves_only_the_missing_split(tmp_path, ext):
    x, y = _data()
    ds = arrays_mod.make(_save(tmp_path / f"d{ext}", x=x[:180], y=y[:180], x_test=x[180:], y_test=y[180:]),
                         valid_size=0.2)
    ids = _split_ids(ds)
    assert ids["test"].tolist() == list(range(180, 200))
    assert len(ids["valid"]) == 36 and ds.n_train == 144
    assert set(ids["valid"]) | set(ids["train"]) == set(range(180))


@pytest.mark.parametrize("option", ["valid_size", "test_size"])
def test_arrays_rejects_a_size_for_a_split_in_the_file(tmp_path, option):
    x, y = _data()
    path = _save(tmp_path / "d.npz", x=x[:150], y=y[:150], x_valid=x[150:180], y_valid=y[150:180],
                 x_test=x[180:], y_test=y[180:])
    with pytest.raises(DeepinitError, match=f"already has a {option.split('_')[0]} split"):
        arrays_mod.make(path, **{option: 10})


def test_arrays_uint8_images_with_metadata(tmp_path, ext):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4, 5), dtype=np.uint8)
    x[0, 0, 0], x[1, 0, 0] = 0, 255
    y = np.arange(50) % 3
    names = ["circle", "square", "triangle"]
    ds = arrays_mod.make(_save(tmp_path / f"d{ext}", x=x, y=y, attrs={"class_names": names}), valid_size=5,
                         test_size=5)
    assert ds.image_shape == (4, 5) and ds.n_inputs == 20 and ds.class_names == tuple(names)
    X_all = np.concatenate([ds.train_set()[0], ds.split("valid")[0], ds.split("test")[0]])
    assert X_all.dtype == np.float32 and X_all.min() == 0.0 and X_all.max() == 1.0
    expected = np.sort(x.reshape(50, -1).astype(np.float32) / np.float32(255), axis=0)
    np.testing.assert_array_equal(np.sort(X_all, axis=0), expected)
    assert ds.describe()["input_scaling"] == "uint8 / 255"


def test_arrays_image_shape_attribute_for_flat_inputs(tmp_path, ext):
    x, y = _data(d=6)
    ds = arrays_mod.make(_save(tmp_path / f"d{ext}", x=x, y=y, attrs={"image_shape": np.array([2, 3])}))
    assert ds.image_shape == (2, 3)
    with pytest.raises(DeepinitError, match="image_shape"):
        arrays_mod.make(_save(tmp_path / f"e{ext}", x=x, y=y, attrs={"image_shape": np.array([4, 3])}))


def test_arrays_integral_float_labels_are_accepted(tmp_path):
    x, y = _data()
    ds = arrays_mod.make(_save(tmp_path / "d.npz", x=x.astype(np.float32), y=y.astype(np.float64)))
    assert ds.n_classes == 4 and ds.split("test")[1].dtype == np.int32


def _bad(x=None, y=None, **extra):
    good_x, good_y = _data()
    arrays = {"x": good_x if x is None else x, "y": good_y if y is None else y, **extra}
    return {k: v for k, v in arrays.items() if not (isinstance(v, str) and v == "drop")}


_X, _Y = _data()


@pytest.mark.parametrize(
    "arrays, message",
    [
        (_bad(x=np.where(np.arange(6) == 2, np.nan, _X)), "NaN or infinite"),
        (_bad(x=np.where(np.arange(6) == 2, np.inf, _X)), "NaN or infinite"),
        (_bad(x=_X * 255), r"range over \[0, 25\d.*needs \[0, 1\]"),
        (_bad(x=_X - 0.5), r"needs \[0, 1\]"),
        (_bad(x=(_X > 0.5).astype(np.uint8)), "store binary inputs as bool or float32"),
        (_bad(y=_Y[:-1]), "'x' has 200 examples but 'y' has 199 labels"),
        (_bad(y="drop"), "no 'y' array"),
        (_bad(x="drop"), "no 'x' array"),
        (_bad(x=_X[:0], y=_Y[:0]), "empty"),
        (_bad(x=_X[:, 0]), "give \\(n, d\\) vectors"),
        (_bad(x=_X.reshape(200, 1, 2, 3)), "give \\(n, d\\) vectors"),
        (_bad(x=_X.astype(str)), "store numeric inputs"),
        (_bad(y=_Y - 1), "negative labels"),
        (_bad(y=_Y + 0.5), "non-integer labels"),
        (_bad(y=_Y + 1), "look 1-based"),
        (_bad(y=_Y * 0), "at least two classes"),
        (_bad(y=np.where(_Y == 3, 5000, _Y)), "label 5000 implies 5001 classes for only 200 examples"),
        (_bad(y=_Y.reshape(100, 2)), "shape \\(n,\\)"),
        (_bad(class_names=np.array(["a", "b"])), "label 3 is out of range for 2 class_names"),
        (_bad(class_names=np.array(["a", "a", "b", "c"])), "distinct strings"),
        (_bad(x_valid=_X[:10]), "has 'x_valid' but no 'y_valid'"),
        (_bad(x_valid=_X[:10, :5], y_valid=_Y[:10]), "make them agree"),
        (_bad(x_val=_X[:10], y_val=_Y[:10]), "unknown array 'x_val'"),
        (_bad(X=_X), "unknown array 'X'"),
        (_bad(x_test=(_X[:10] * 255).astype(np.uint8), y_test=_Y[:10]), "mix uint8 with other dtypes"),
    ],
)
def test_arrays_rejects_bad_files(tmp_path, ext, arrays, message):
    arrays = dict(arrays)
    if ext == ".h5":  # h5py stores str as lists (variable-length) or bytes, not numpy unicode arrays
        names = arrays.pop("class_names", None)
        arrays = {k: v.astype(bytes) if v.dtype.kind == "U" else v for k, v in arrays.items()}
        if names is not None:
            arrays["attrs"] = {"class_names": names.tolist()}
    path = _save(tmp_path / f"bad{ext}", **arrays)
    with pytest.raises(DeepinitError, match=message) as info:
        arrays_mod.make(path)
    assert str(path) in str(info.value)


def test_arrays_ignores_metadata_but_lists_names_when_x_is_missing(tmp_path, ext):
    x, y = _data()
    notes = np.array([1.0, 2.0])
    assert arrays_mod.make(_save(tmp_path / f"d{ext}", x=x, y=y, notes=notes, year=notes)).n_inputs == 6
    with pytest.raises(DeepinitError, match=r"no 'x' and 'y' array \(found images, labels\)"):
        arrays_mod.make(_save(tmp_path / f"e{ext}", images=x, labels=y))


@pytest.mark.parametrize("ext", [".npz", ".h5", ".hdf5"])
def test_arrays_rejects_files_that_are_not_array_files(tmp_path, ext):
    path = tmp_path / f"junk{ext}"
    path.write_bytes(b"PK\x03\x04 not really a zip, nor HDF5" * 10)
    with pytest.raises(DeepinitError, match="cannot read .*junk") as info:
        arrays_mod.make(path)
    assert "complete" in str(info.value)


def test_arrays_rejects_npy_and_pickled_objects(tmp_path):
    npy = tmp_path / "a.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DeepinitError, match="single .npy array"):
        arrays_mod.make(npy)
    x, y = _data()
    pickled = _save(tmp_path / "p.npz", x=x, y=np.array(list(y), dtype=object))
    with pytest.raises(DeepinitError, match="cannot read .*p.npz"):
        arrays_mod.make(pickled)


def test_arrays_rejects_an_hdf5_group_where_an_array_belongs(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("x")
        f["y"] = _Y
    with pytest.raises(DeepinitError, match="'x' is an HDF5 group"):
        arrays_mod.make(path)


# -- the registry -----------------------------------------------------------------


def test_registry_builds_array_files_with_options(tmp_path):
    x, y = _data()
    path = _save(tmp_path / "d.h5", x=x, y=y)
    ds = get_dataset(str(path), seed=4, valid_size=10, test_size=None)
    assert isinstance(ds, FiniteDataset) and (ds.seed, ds.n_train, ds.name) == (4, 170, str(path))


def test_registry_errors(tmp_path):
    with pytest.raises(DeepinitError, match="unknown dataset 'cifar'"):
        get_dataset("cifar")
    with pytest.raises(DeepinitError, match="does not exist"):
        get_dataset(str(tmp_path / "absent.npz"))
    with pytest.raises(DeepinitError, match="'test-size' does not apply to dataset 'mnist'"):
        get_dataset("mnist", test_size=5)
    x, y = _data()
    path = _save(tmp_path / "d.npz", x=x, y=y)
    with pytest.raises(DeepinitError, match="'data-dir' does not apply"):
        get_dataset(str(path), data_dir=str(tmp_path))


def test_registry_mnist_with_data_dir(tmp_path):
    ds = get_dataset("mnist", data_dir=str(_write_mnist(tmp_path)), valid_size=20, seed=None)
    assert (ds.n_train, ds.seed) == (100, 0)
