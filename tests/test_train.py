"""Training loop, run files and reproducibility (library level)."""

import json

import numpy as np
import pytest

from deepinit.config import TrainConfig
from deepinit.errors import DeepinitError
from deepinit.runfile import CURVE_FIELDS, FORMAT, SCHEMA_VERSION, read_run
from deepinit.training import train


def small(dataset, **kw):
    base = dict(dataset=dataset, hidden=[16, 16], lr=0.1, updates=120, eval_every=40)
    base.update(kw)
    return TrainConfig(**base)


def test_run_file_round_trip(blobs, tmp_path):
    cfg = small(blobs)
    out = tmp_path / "run.h5"
    record = train(cfg, out, n_threads=1)
    run = read_run(out)
    assert run.attrs["format"] == FORMAT and run.attrs["schema_version"] == SCHEMA_VERSION
    assert run.status == "completed" and run.error == ""
    assert run.config == cfg.to_dict()
    assert run.network == {"sizes": [20, 16, 16, 3], "activations": ["tanh", "tanh"], "cost": "softmax-nll", "dtype": "float32"}
    assert set(run.curves) == set(CURVE_FIELDS)
    np.testing.assert_array_equal(run.curves["update"], [0, 40, 80, 120])
    np.testing.assert_array_equal(run.curves["examples"], [0, 400, 800, 1200])
    assert np.isnan(run.curves["train_cost"][0]) and np.all(np.isfinite(run.curves["train_cost"][1:]))
    for key in CURVE_FIELDS:
        np.testing.assert_array_equal(run.curves[key], np.asarray(record.curves[key], dtype=run.curves[key].dtype))
    assert run.attrs["update"] == 120 and run.attrs["examples"] == 1200
    assert [W.shape for W in run.weights] == [(20, 16), (16, 16), (16, 3)]
    assert run.curves["valid_error"][-1] < 0.2  # it learned the blobs
    np.testing.assert_array_equal(run.init["fan_in"], [20, 16, 16])
    np.testing.assert_allclose(run.init["realized_std"], run.init["target_std"], rtol=0.35)
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_runs_are_reproducible_from_seeds_for_any_thread_count(blobs, tmp_path):
    paths = []
    for k, (threads, init_seed, data_seed) in enumerate([(1, 0, 0), (2, 0, 0), (3, 0, 0), (1, 1, 0), (1, 0, 1)]):
        paths.append(tmp_path / f"r{k}.h5")
        train(small(blobs, init_seed=init_seed, data_seed=data_seed), paths[-1], n_threads=threads)
    runs = [read_run(p) for p in paths]
    for other in runs[1:3]:
        for a, b in zip(runs[0].weights + runs[0].biases, other.weights + other.biases):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(runs[0].curves["valid_cost"], other.curves["valid_cost"])
    for other in runs[3:]:  # another init seed, another data order: another result
        assert not np.array_equal(runs[0].weights[0], other.weights[0])


def test_existing_run_file_is_never_overwritten_unless_asked(blobs, tmp_path):
    out = tmp_path / "run.h5"
    out.write_bytes(b"precious")
    with pytest.raises(DeepinitError, match="already exists"):
        train(small(blobs), out)
    assert out.read_bytes() == b"precious"
    train(small(blobs), out, overwrite=True)
    assert read_run(out).status == "completed"


def test_bad_config_fails_before_touching_the_disk(tmp_path):
    out = tmp_path / "sub" / "run.h5"
    with pytest.raises(DeepinitError, match="--epochs needs a finite"):
        train(TrainConfig(dataset="shapeset", epochs=1, hidden=[4], valid_size=50, test_size=50), out)
    with pytest.raises(DeepinitError, match="unknown dataset"):
        train(TrainConfig(dataset="imagenet"), out)
    assert not out.exists()


def test_a_crash_leaves_a_readable_file_that_says_failed(blobs, tmp_path):
    out = tmp_path / "run.h5"

    def explode(progress):
        if progress.update >= 80:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        train(small(blobs), out, callback=explode, checkpoint_seconds=0)
    run = read_run(out)
    assert run.status == "failed" and "disk on fire" in run.error
    assert run.attrs["update"] == 80


def test_interrupt_is_recorded(blobs, tmp_path):
    out = tmp_path / "run.h5"

    def stop(progress):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small(blobs), out, callback=stop)
    assert read_run(out).status == "interrupted"


def test_a_live_run_can_be_read_while_it_trains(blobs, tmp_path):
    out = tmp_path / "run.h5"
    seen = []

    def peek(progress):
        if progress.evaluated:
            run = read_run(out)
            seen.append((run.status, len(run.curves["update"])))

    train(small(blobs), out, callback=peek, checkpoint_seconds=0)
    assert seen[0] == ("running", 1)  # the checkpoint before this point's write
    assert all(status == "running" for status, _ in seen)
    assert [n for _, n in seen] == sorted(n for _, n in seen) and seen[-1][1] >= 3
    assert read_run(out).status == "completed"


def test_divergence_stops_the_run_and_says_so(blobs, tmp_path):
    out = tmp_path / "run.h5"
    record = train(small(blobs, lr=1e30, init_scale=50.0), out)
    assert record.status == "diverged" and "smaller --lr" in record.error
    assert read_run(out).status == "diverged"
    assert record.update < 120


def test_epochs_budget_on_a_finite_set(blobs, tmp_path):
    record = train(small(blobs, updates=None, epochs=2, batch_size=20), tmp_path / "r.h5")
    assert record.update == 60 and record.examples == 1200  # 2 x 600 examples


def test_read_run_rejects_files_that_are_not_runs(tmp_path):
    import h5py

    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(DeepinitError, match="corrupt"):
        read_run(bad)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(DeepinitError, match="not a deepinit run file"):
        read_run(tmp_path / "other.h5")
    with pytest.raises(DeepinitError, match="does not exist"):
        read_run(tmp_path / "missing.h5")


def test_config_json_round_trip():
    cfg = TrainConfig(hidden=[3, 4], lr=0.5, valid_size=0.2)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(DeepinitError, match="unknown configuration keys"):
        TrainConfig.from_dict({"learning_rate": 1})


@pytest.mark.slow
def test_mnist_subset_two_tanh_layers_reach_under_10_percent(mnist_test_set, tmp_path):
    """2 tanh hidden layers trained on 8,000 real MNIST test images, tested on the other 2,000."""
    X, y = mnist_test_set
    path = tmp_path / "mnist-subset.npz"
    np.savez(path, x=X[:8000], y=y[:8000], x_test=X[8000:], y_test=y[8000:])
    cfg = TrainConfig(dataset=str(path), valid_size=800, hidden=[200, 200], activation="tanh",
                      lr=0.05, epochs=4, eval_every=1000)
    record = train(cfg, tmp_path / "run.h5")
    test_error = record.curves["test_error"][-1]
    assert test_error < 0.10, f"test error {test_error:.2%} on the 2,000 held-out images"
