"""Shapeset-3x2: distribution, rendering, determinism, dataset interface, CLI.

The renderer's images are checked against an independent numpy rasterizer
driven by the geometry the kernel reports, so the overlap, inside-the-image and
contrast checks do not rest on the kernel's own measurements alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from deepinit.cli import cli
from deepinit.datasets import get_dataset
from deepinit.datasets.shapeset import (
    EVAL_SEED,
    STREAM_TEST,
    STREAM_TRAIN,
    STREAM_VALID,
    ShapesetDataset,
    generate,
    generate_with_metadata,
    make,
)
from deepinit.errors import DeepinitError

K = pytest.importorskip("deepinit._kernels._shapeset")
P = K.PARAMS
TRIANGLE, PARALLELOGRAM, ELLIPSE = 0, 1, 2
CLASS_KINDS = [sorted(K.SHAPE_NAMES.index(s) for s in shapes) for shapes in K.CLASS_SHAPES]
TOL = 1e-9


@pytest.fixture(scope="module")
def sample():
    """18,000 training examples of seed 0 with metadata (float32 images)."""
    X, y, meta = generate_with_metadata(18_000, seed=0, n_threads=2)
    X.flags.writeable = False
    return X, y, meta


# --------------------------------------------------------------------------- #
# An independent rasterizer: same sub-sample pattern, geometry from the metadata
# --------------------------------------------------------------------------- #

_k = np.arange(16)
_R, _C = np.mgrid[0:32, 0:32]
SAMPLE_X = _C[..., None] + (_k + 0.5) / 16                  # (32, 32, 16)
SAMPLE_Y = _R[..., None] + ((5 * _k) % 16 + 0.5) / 16


def vertices(meta, i, j):
    """(n, 2) polygon vertices of object j of example i."""
    g = np.array([meta[f"geom{j}_{k}"][i] for k in range(8)])
    n = 3 if meta[f"kind{j}"][i] == TRIANGLE else 4
    return g[: 2 * n].reshape(n, 2)


def ellipse(meta, i, j):
    """Centre (2,) and semi-axis matrix A (2, 2): the ellipse is {c + A (cos t, sin t)}."""
    g = np.array([meta[f"geom{j}_{k}"][i] for k in range(6)])
    return g[:2], np.array([[g[2], g[4]], [g[3], g[5]]])


def inside(meta, i, j):
    """(32, 32, 16) bool: which sub-samples object j of example i covers."""
    if meta[f"kind{j}"][i] == ELLIPSE:
        c, A = ellipse(meta, i, j)
        uv = np.linalg.solve(A, np.stack([(SAMPLE_X - c[0]).ravel(), (SAMPLE_Y - c[1]).ravel()]))
        return ((uv**2).sum(0) <= 1).reshape(SAMPLE_X.shape)
    v = vertices(meta, i, j)
    w = np.roll(v, -1, axis=0)
    orientation = np.sign(np.sum(v[:, 0] * w[:, 1] - w[:, 0] * v[:, 1]))
    cross = [(b[0] - a[0]) * (SAMPLE_Y - a[1]) - (b[1] - a[1]) * (SAMPLE_X - a[0]) for a, b in zip(v, w)]
    return np.logical_and.reduce([orientation * c >= 0 for c in cross])


def reference(meta, i):
    """(image (1024,), coverage of object 1 (32, 32, 16), of object 2 or None)."""
    sub = np.full(SAMPLE_X.shape, meta["background"][i])
    m1 = inside(meta, i, 1)
    sub[m1] = meta["grey1"][i]
    m2 = None
    if meta["n_objects"][i] == 2:
        m2 = inside(meta, i, 2)
        sub[m2] = meta["grey2"][i]
    return sub.mean(-1).ravel(), m1, m2


def test_images_match_independent_rasterizer():
    X, y, meta = generate_with_metadata(400, seed=11, start=5_000, dtype=np.float64)
    for i in range(len(X)):
        ref, m1, m2 = reference(meta, i)
        np.testing.assert_allclose(X[i], ref, rtol=0, atol=1e-12, err_msg=f"example {i}")
        assert meta["mass1"][i] == m1.sum() / 16
        if m2 is not None:
            overlap = (m1 & m2).sum() / m1.sum()
            assert overlap == pytest.approx(meta["overlap"][i], abs=1e-12)
            assert overlap <= P["max_overlap"]


# --------------------------------------------------------------------------- #
# Labels and the distribution of objects
# --------------------------------------------------------------------------- #

def test_class_balance(sample):
    _, y, _ = sample
    counts = np.bincount(y, minlength=9)
    assert counts.shape == (9,)
    expected = len(y) / 9
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    try:
        from scipy.special import chdtrc    # chi-square survival function (lighter than scipy.stats)
    except ImportError:
        assert chi2 < 26.124, counts        # chi-square critical value, df 8, p = 0.001
    else:
        assert chdtrc(8, chi2) > 0.001, counts


def test_objects_match_label(sample):
    _, y, meta = sample
    np.testing.assert_array_equal(meta["label"], y)
    n_objects = np.where(y < 3, 1, 2)
    np.testing.assert_array_equal(meta["n_objects"], n_objects)
    assert np.all(meta["kind2"][y < 3] == -1)
    assert np.isnan(meta["grey2"][y < 3]).all()
    for c in range(9):
        sel = y == c
        kinds = np.stack([meta["kind1"][sel], meta["kind2"][sel]], axis=1)
        kinds = np.sort(kinds[:, : 1 + (c >= 3)], axis=1)
        assert (kinds == CLASS_KINDS[c]).all(), f"class {c} ({K.CLASS_SHAPES[c]})"


@pytest.mark.parametrize("c", [4, 5, 7])
def test_mixed_classes_randomize_which_shape_is_under(sample, c):
    _, y, meta = sample
    first_is_a = meta["kind1"][y == c] == CLASS_KINDS[c][0]
    n = len(first_is_a)
    # 6 standard deviations of a fair coin over ~2000 draws
    assert abs(first_is_a.mean() - 0.5) < 6 * 0.5 / math.sqrt(n)


def test_overlap_at_most_half_and_the_bound_is_active(sample):
    _, y, meta = sample
    two = meta["n_objects"] == 2
    overlap = meta["overlap"][two]
    assert overlap.max() <= 0.5
    assert np.all(meta["overlap"][~two] == 0)
    # The bound is reached (rejection is needed) and many pairs do overlap.
    assert overlap.max() > 0.45
    assert (overlap > 0).mean() > 0.2
    assert (meta["attempts"][two] > 1).any()
    assert meta["attempts"][two].max() <= P["max_tries"] * P["max_restarts"]


def test_objects_inside_the_image(sample):
    _, _, meta = sample
    lo, hi = P["margin_px"], 32 - P["margin_px"]
    for j in (1, 2):
        present = meta[f"kind{j}"] >= 0
        for name in ("xmin", "ymin", "xmax", "ymax"):
            v = meta[f"{name}{j}"][present]
            assert v.min() >= lo - TOL and v.max() <= hi + TOL, name
        # The raster holds the whole shape: coverage mass matches the analytic area
        # (within the error of 16 sub-samples along the boundary), so nothing is cut.
        ratio = meta[f"mass{j}"][present] / meta[f"area{j}"][present]
        assert ratio.min() > 0.85 and ratio.max() < 1.15
        assert abs(np.median(ratio) - 1) < 0.01
    # Geometry itself (not only the reported box) lies inside.
    for i in range(300):
        for j in range(1, int(meta["n_objects"][i]) + 1):
            if meta[f"kind{j}"][i] == ELLIPSE:
                c, A = ellipse(meta, i, j)
                half = np.sqrt((A**2).sum(axis=1))      # half-extents in x and y
                pts = np.array([c - half, c + half])
            else:
                pts = vertices(meta, i, j)
            assert pts.min() >= lo - TOL and pts.max() <= hi + TOL


def _angles(v):
    """Interior angles (degrees) of a polygon with vertices v (n, 2)."""
    out = []
    for k in range(len(v)):
        a, b = v[k - 1] - v[k], v[(k + 1) % len(v)] - v[k]
        out.append(math.degrees(math.acos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))))
    return np.array(out)


def test_shape_parameters_in_documented_ranges(sample):
    _, _, meta = sample
    checked = {TRIANGLE: 0, PARALLELOGRAM: 0, ELLIPSE: 0}
    extent_lo, extent_hi = P["extent_px"]
    for i in range(600):
        for j in range(1, int(meta["n_objects"][i]) + 1):
            kind = int(meta[f"kind{j}"][i])
            checked[kind] += 1
            w = meta[f"xmax{j}"][i] - meta[f"xmin{j}"][i]
            h = meta[f"ymax{j}"][i] - meta[f"ymin{j}"][i]
            assert extent_lo - TOL <= max(w, h) <= extent_hi + TOL
            if kind == ELLIPSE:
                axes = np.linalg.svd(ellipse(meta, i, j)[1], compute_uv=False)
                assert axes[1] / axes[0] >= P["ellipse_axis_ratio"][0] - TOL
                assert meta[f"area{j}"][i] == pytest.approx(math.pi * axes[0] * axes[1])
                continue
            v = vertices(meta, i, j)
            angles = _angles(v)
            if kind == TRIANGLE:
                assert angles.sum() == pytest.approx(180)
                assert angles.min() >= P["triangle_min_angle_deg"] - 1e-6
            else:
                e1, e2 = v[1] - v[0], v[3] - v[0]
                np.testing.assert_allclose(v[2], v[0] + e1 + e2, atol=1e-9)   # a parallelogram
                ratio = min(np.linalg.norm(e1), np.linalg.norm(e2)) / max(np.linalg.norm(e1), np.linalg.norm(e2))
                assert ratio >= P["parallelogram_side_ratio"][0] - 1e-9
                lo, hi = P["parallelogram_angle_deg"]
                assert lo - 1e-6 <= angles[0] <= hi + 1e-6
    assert min(checked.values()) > 100


def test_pixel_range_and_dtypes(sample):
    X, _, _ = sample
    assert X.dtype == np.float32 and X.shape == (18_000, 1024)
    assert np.isfinite(X).all() and X.min() >= 0 and X.max() <= 1
    X64, _ = generate(500, seed=0, dtype=np.float64)
    np.testing.assert_array_equal(X64.astype(np.float32), X[:500])


def test_visible_contrast(sample):
    X, _, meta = sample
    d = P["min_contrast"] - 1e-12
    assert np.all(np.abs(meta["grey1"] - meta["background"]) >= d)
    two = meta["n_objects"] == 2
    assert np.all(np.abs(meta["grey2"][two] - meta["background"][two]) >= d)
    covering = two & (meta["overlap"] > 0)
    assert np.all(np.abs(meta["grey2"][covering] - meta["grey1"][covering]) >= d)
    # The image frame is background (objects keep a margin): the grey level reported
    # is the one in the image.
    frame = X.reshape(-1, 32, 32)[:, 0, :]
    np.testing.assert_array_equal(frame, np.repeat(meta["background"].astype(np.float32)[:, None], 32, 1))
    # Grey levels span [0, 1], so polarity (lighter or darker object) is random.
    assert (meta["grey1"] > meta["background"]).mean() == pytest.approx(0.5, abs=0.03)


def test_edges_are_antialiased(sample):
    X, _, meta = sample
    bg = meta["background"].astype(np.float32)[:, None]
    g1 = meta["grey1"].astype(np.float32)[:, None]
    single = meta["n_objects"] == 1
    Xs = X[single]
    between = (np.minimum(bg, g1)[single] < Xs) & (Xs < np.maximum(bg, g1)[single])
    assert between.any(axis=1).all()             # every single-object image has partial pixels
    # Coverage takes many levels, not just a few (16 sub-samples per pixel).
    cov = ((Xs - bg[single]) / (g1 - bg)[single])[between]
    levels = np.unique(np.round(cov * 16))
    assert len(levels) == 15                      # 1/16 .. 15/16


# --------------------------------------------------------------------------- #
# Determinism and streams
# --------------------------------------------------------------------------- #

def _digest(X, y) -> str:
    return hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()


def test_same_bits_for_any_thread_count_and_chunking():
    ref_X, ref_y = generate(600, seed=3, start=1000, n_threads=1)
    for t in (2, 3):
        X, y = generate(600, seed=3, start=1000, n_threads=t)
        assert _digest(X, y) == _digest(ref_X, ref_y), f"n_threads={t}"
    parts = [generate(n, seed=3, start=1000 + s, n_threads=2) for s, n in ((0, 7), (7, 250), (257, 343))]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    assert _digest(X, y) == _digest(ref_X, ref_y)
    # The dataset's buffer filling gives the same training stream.
    ds = make(seed=3)
    Xb = np.empty((600, 1024), np.float32)
    yb = np.empty(600, np.int32)
    ds.n_threads = 3
    ds.fill_train(1000, Xb, yb)
    assert _digest(Xb, yb) == _digest(ref_X, ref_y)


def test_same_bits_in_another_process():
    code = (
        "import hashlib; from deepinit.datasets.shapeset import generate; "
        "X, y = generate(300, seed=7, start=123456789, n_threads=1); "
        "print(hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest())"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    X, y = generate(300, seed=7, start=123456789, n_threads=2)
    assert child.stdout.strip() == _digest(X, y)


_M64 = 2**64 - 1


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _draws(seed, stream, index, n):
    """The documented counter-based generator, in pure Python: the first n uniforms."""
    key = _mix64(_mix64(_mix64(seed ^ 0x5348415045534554) ^ stream) ^ index)
    return [(_mix64((key + d * 0x9E3779B97F4A7C15) & _M64) >> 11) / 2**53 for d in range(1, n + 1)]


@pytest.mark.parametrize("seed, stream, start", [(0, STREAM_TRAIN, 0), (2**64 - 1, STREAM_VALID, 10**15)])
def test_random_draws_follow_the_documented_generator(seed, stream, start):
    """Label = floor(9 u1), background = u2: integer hashing only, the same on every platform."""
    _, y, meta = generate_with_metadata(50, seed=seed, stream=stream, start=start)
    for i in range(50):
        u = _draws(seed, stream, start + i, 2)
        assert y[i] == int(9 * u[0])
        assert meta["background"][i] == u[1]


def test_parameters_are_the_documented_ones():
    """docs/shapeset.md documents these; changing one is a new GENERATOR_VERSION."""
    assert P["extent_px"] == [8.0, 24.0]
    assert P["margin_px"] == 1.0
    assert P["min_contrast"] == 0.2
    assert P["max_overlap"] == 0.5
    assert P["triangle_min_angle_deg"] == 30.0
    assert P["parallelogram_side_ratio"] == [0.5, 1.0]
    assert P["parallelogram_angle_deg"] == [50.0, 130.0]
    assert P["ellipse_axis_ratio"] == [0.4, 1.0]
    assert P["subsamples_per_pixel"] == 16


def test_first_labels_are_pinned():
    """A failure means the generator changed: bump GENERATOR_VERSION, update this and the docs."""
    _, y, meta = generate_with_metadata(12, seed=0)
    assert K.GENERATOR_VERSION == "shapeset-3x2/1"
    assert y.tolist() == [2, 8, 7, 0, 0, 5, 5, 1, 0, 6, 3, 1]
    assert meta["background"][1] == 0.5350878068147537


def test_seeds_and_streams_differ():
    X0, y0 = generate(200, seed=0)
    X1, y1 = generate(200, seed=1)
    Xs, ys = generate(200, seed=0, stream=5)
    Xo, yo = generate(200, seed=0, start=200)
    for other in (X1, Xs, Xo):
        assert not (other == X0).all(axis=1).any()
    assert (y0 != y1).mean() > 0.7


def test_eval_sets_fixed_and_disjoint_from_training():
    ds = make(seed=0, valid_size=2000, test_size=2000)
    Xv, yv = ds.split("valid")
    Xt, yt = ds.split("test")
    assert Xv.shape == (2000, 1024) and yv.shape == (2000,) and Xv.dtype == np.float32 and yv.dtype == np.int32
    # independent of the data seed, and what the documented streams give
    Xv5, _ = make(seed=5, valid_size=2000, test_size=10).split("valid")
    np.testing.assert_array_equal(Xv, Xv5)
    np.testing.assert_array_equal(Xv, generate(2000, seed=EVAL_SEED, stream=STREAM_VALID)[0])
    np.testing.assert_array_equal(Xt, generate(2000, seed=EVAL_SEED, stream=STREAM_TEST)[0])
    # no image shared between validation, test and training streams of several seeds
    seen = {row.tobytes() for row in Xv}
    assert len(seen) == 2000
    seen |= {row.tobytes() for row in Xt}
    assert len(seen) == 4000
    for seed in (0, 1, EVAL_SEED):
        Xtr, _ = generate(10_000, seed=seed, stream=STREAM_TRAIN)
        assert not any(row.tobytes() in seen for row in Xtr)


# --------------------------------------------------------------------------- #
# Dataset interface
# --------------------------------------------------------------------------- #

def test_dataset_interface():
    ds = get_dataset("shapeset", seed=4, valid_size=50, test_size=60)
    assert isinstance(ds, ShapesetDataset)
    assert (ds.name, ds.n_inputs, ds.n_classes, ds.image_shape, ds.n_train) == ("shapeset", 1024, 9, (32, 32), None)
    assert ds.is_stream
    assert ds.class_names == (
        "triangle", "parallelogram", "ellipse", "triangle+triangle", "triangle+parallelogram",
        "triangle+ellipse", "parallelogram+parallelogram", "parallelogram+ellipse", "ellipse+ellipse",
    )
    X, y = ds.split("valid")
    assert ds.split("valid")[0] is X                         # cached
    assert not X.flags.writeable
    assert len(ds.split("test")[0]) == 60
    desc = ds.describe()
    assert json.loads(json.dumps(desc)) == desc
    assert desc["seed"] == 4 and desc["valid_size"] == 50 and desc["test_size"] == 60
    assert desc["generator"] == K.GENERATOR_VERSION and desc["params"]["max_overlap"] == 0.5
    assert make().valid_size == 10_000 and make().test_size == 10_000
    for dtype in (np.float32, np.float64):
        Xb = np.empty((40, 1024), dtype)
        yb = np.empty(40, np.int32)
        ds.fill_train(77, Xb, yb)
        Xr, yr = generate(40, seed=4, start=77, dtype=dtype)
        np.testing.assert_array_equal(Xb, Xr)
        np.testing.assert_array_equal(yb, yr)


@pytest.mark.parametrize("options", [
    {"valid_size": 0}, {"test_size": -3}, {"valid_size": 0.1}, {"seed": -1}, {"seed": 2**64}, {"data_dir": "x"},
])
def test_dataset_rejects_bad_options(options):
    with pytest.raises(DeepinitError):
        get_dataset("shapeset", **options)


def test_bad_buffers_and_splits_are_rejected():
    ds = make(valid_size=10, test_size=10)
    with pytest.raises(DeepinitError, match="unknown split"):
        ds.split("train")
    with pytest.raises(ValueError):
        ds.fill_train(0, np.empty((4, 1000), np.float32), np.empty(4, np.int32))
    with pytest.raises(ValueError):
        ds.fill_train(0, np.empty((4, 1024), np.float32), np.empty(5, np.int32))
    with pytest.raises(ValueError):
        ds.fill_train(0, np.empty((4, 1024), np.float16), np.empty(4, np.int32))
    with pytest.raises(ValueError):
        ds.fill_train(0, np.empty((4, 2048), np.float32)[:, ::2], np.empty(4, np.int32))
    with pytest.raises(DeepinitError):
        ds.fill_train(-1, np.empty((4, 1024), np.float32), np.empty(4, np.int32))
    with pytest.raises(ValueError):
        K.render(0, 0, 0, np.empty((3, 1024)), np.empty(3, np.int32), np.empty((3, 5)), 1)


# --------------------------------------------------------------------------- #
# Learnability
# --------------------------------------------------------------------------- #

@pytest.mark.slow
def test_linear_classifier_beats_chance_but_not_by_much():
    """Softmax regression, 5 epochs of SGD on 20,000 examples, scored on 5,000 others.

    Raw pixels are no use to a linear model: grey levels are symmetric under
    x -> 1 - x, so every class's image distribution is too. The model sees the
    contrast image |x - background| instead (the frame pixel is background).
    Measured: 0.806 test error (chance 0.889); docs/shapeset.md.
    """
    X, y = generate(20_000, seed=1)
    Xt, yt = generate(5_000, seed=EVAL_SEED, stream=STREAM_TEST)

    def features(X):
        return np.abs(X - X[:, :1])

    F, Ft = features(X), features(Xt)
    mu = F.mean(0)
    F -= mu
    Ft -= mu
    rng = np.random.default_rng(0)
    W = np.zeros((1024, 9), np.float32)
    b = np.zeros(9, np.float32)
    lr, B = 0.03, 20
    for _ in range(5):
        for idx in rng.permutation(len(F)).reshape(-1, B):
            Z = F[idx] @ W + b
            Z -= Z.max(1, keepdims=True)
            G = np.exp(Z)
            G /= G.sum(1, keepdims=True)
            G[np.arange(B), y[idx]] -= 1
            W -= lr / B * F[idx].T @ G
            b -= lr / B * G.sum(0)
    error = float(((Ft @ W + b).argmax(1) != yt).mean())
    # chance is 8/9 = 0.889 (+-0.0044 over 5000 examples): 0.85 is 9 standard deviations below
    assert error < 0.85
    assert error > 0.5


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #

def test_cli_export(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "shapes.h5"
    result = CliRunner().invoke(cli, ["data", "shapeset", "--export", str(path), "-n", "300", "--seed", "9",
                                      "--threads", "2"])
    assert result.exit_code == 0, result.output
    with h5py.File(path, "r") as f:
        x, y = f["x"][()], f["y"][()]
        assert x.dtype == np.float32 and x.shape == (300, 1024)
        assert y.dtype == np.int32 and y.shape == (300,)
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["class_names"]]
        assert names == list(make().class_names)
        assert list(f.attrs["image_shape"]) == [32, 32]
        source = json.loads(f.attrs["source"])
        assert source["name"] == "shapeset" and source["seed"] == 9
    X, Y = generate(300, seed=9)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    assert [p.name for p in tmp_path.iterdir()] == ["shapes.h5"]          # no temporary left


def test_cli_export_is_read_by_the_array_loader(tmp_path):
    pytest.importorskip("deepinit.datasets.arrays")
    path = tmp_path / "shapes.h5"
    assert CliRunner().invoke(cli, ["data", "shapeset", "--export", str(path), "-n", "200"]).exit_code == 0
    ds = get_dataset(str(path), valid_size=20, test_size=20)
    assert ds.n_inputs == 1024 and ds.n_classes == 9 and tuple(ds.image_shape) == (32, 32)
    assert tuple(ds.class_names) == make().class_names


def test_cli_refuses_to_overwrite(tmp_path):
    path = tmp_path / "shapes.h5"
    path.write_bytes(b"precious")
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "shapeset", "--export", str(path), "-n", "10"])
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert path.read_bytes() == b"precious"
    result = runner.invoke(cli, ["data", "shapeset", "--export", str(path), "-n", "10", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_cli_export_needs_n(tmp_path):
    result = CliRunner().invoke(cli, ["data", "shapeset", "--export", str(tmp_path / "a.h5")])
    assert result.exit_code == 2
    assert "-n" in result.output
    assert not (tmp_path / "a.h5").exists()


def test_cli_png_preview(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "preview.png"
    result = CliRunner().invoke(cli, ["data", "shapeset", "--preview", str(path), "-n", "12"])
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_png_preview_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib -> ImportError
    path = tmp_path / "preview.png"
    result = CliRunner().invoke(cli, ["data", "shapeset", "--preview", str(path)])
    assert result.exit_code == 2
    assert 'pip install "deepinit[plot]"' in result.output
    assert not path.exists()


def test_cli_terminal_preview():
    result = CliRunner().invoke(cli, ["data", "shapeset", "-n", "5", "--seed", "2"])
    assert result.exit_code == 0, result.output
    _, y = generate(5, seed=2)
    names = make().class_names
    for i, label in enumerate(y):
        assert f"{i}: {names[label]}" in result.output
    lines = result.output.splitlines()
    assert sum(len(line) >= 32 for line in lines) >= 32         # two rows of 16 lines of pixels
    assert len(set("".join(lines)) & set(" .:-=+*#%@")) >= 4  # shaded, not blank
