"""Monitoring during training: no effect on training, the run file, live reading, stats --layers, plot."""

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from deepinit.cli import cli
from deepinit.config import TrainConfig
from deepinit.monitor import schedule
from deepinit.runfile import read_run
from deepinit.training import train


def config(blobs, **kw):
    base = dict(dataset=blobs, hidden=[16, 12, 8], lr=0.1, updates=120, eval_every=40,
                monitor_every=25, monitor_log_points=4, probe_size=60, jacobian_examples=2, jacobian_every=50)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def run_file(blobs, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run.h5"
    train(config(blobs), out, n_threads=1)
    return out


def test_monitoring_does_not_change_training(blobs, tmp_path):
    on = train(config(blobs), tmp_path / "on.h5", n_threads=1)
    off = train(config(blobs, monitor=False), tmp_path / "off.h5", n_threads=1)
    a, b = read_run(tmp_path / "on.h5"), read_run(tmp_path / "off.h5")
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        assert x.tobytes() == y.tobytes()  # bitwise identical parameters
    for key in ("train_cost", "valid_cost", "test_error"):
        np.testing.assert_array_equal(a.curves[key], b.curves[key])
    assert a.monitor is not None and b.monitor is None
    assert on.status == off.status == "completed"


def test_run_file_holds_the_monitoring_record(run_file):
    run = read_run(run_file)
    mon = run.monitor
    np.testing.assert_array_equal(mon["update"], schedule(120, 25, 4))
    np.testing.assert_array_equal(mon["examples"], mon["update"] * 10)
    n = len(mon["update"])
    assert mon["activation"]["mean"].shape == (n, 3) and mon["weight"]["std"].shape == (n, 4)
    assert mon["activation"]["hist"].shape == (n, 3, 100) and mon["activation"]["hist"].dtype == np.int32
    assert mon["activation"]["percentiles"].shape == (n, 3, 7)
    assert mon["@attrs"]["probe_size"] == 60 and mon["@attrs"]["every"] == 25
    # Jacobians at 0, at the first points past 50 and 100, and at the end.
    done = mon["update"][mon["jacobian"]["n_examples"][:, 0] > 0].tolist()
    assert done == [0, 50, 100, 120]
    # The parameters saved at the end are those of the last monitoring point.
    np.testing.assert_allclose(mon["weight"]["std"][-1], [W.std() for W in run.weights], rtol=1e-6)
    assert mon["seconds"].sum() == pytest.approx(mon["@attrs"]["seconds"])
    assert np.all(np.diff(mon["wall_time"]) >= 0)


def test_a_live_run_shows_the_points_recorded_so_far(blobs, tmp_path):
    out = tmp_path / "live.h5"
    runner = CliRunner()
    seen = []

    def peek(progress):
        if progress.update in (50, 100):
            run = read_run(out)
            result = runner.invoke(cli, ["stats", str(out), "--layers", "--json"])
            assert result.exit_code == 0, result.output
            payload = json.loads(result.stdout)
            seen.append((run.status, progress.update, payload["monitor"]["update"]))
            table = runner.invoke(cli, ["stats", str(out), "--layers", "--at", "last"])
            assert table.exit_code == 0 and "running" in table.stdout

    train(config(blobs), out, callback=peek, checkpoint_seconds=0, n_threads=1)
    assert [s[0] for s in seen] == ["running", "running"]
    for _, update, recorded in seen:
        # The callback comes before the checkpoint of its own chunk: the file has the points before it.
        assert recorded == [u for u in schedule(120, 25, 4).tolist() if u < update]


def test_divergence_records_a_last_point_with_the_nan_counted(blobs, tmp_path):
    record = train(config(blobs, hidden=[16, 16], lr=1e30, init_scale=50.0), tmp_path / "d.h5", n_threads=1)
    assert record.status == "diverged"
    mon = read_run(tmp_path / "d.h5").monitor
    assert mon["update"][-1] == record.update
    last = sum(int(mon[g][k][-1].sum()) for g in ("weight", "activation") for k in ("nan", "inf"))
    assert last > 0


def test_no_monitor_option_and_bad_monitor_options(blobs, tmp_path):
    runner = CliRunner()
    base = ["train", "-d", blobs, "--hidden", "8", "--updates", "30", "-q", "-j", "1"]
    r = runner.invoke(cli, base + ["--no-monitor", "-o", str(tmp_path / "a.h5")])
    assert r.exit_code == 0 and read_run(tmp_path / "a.h5").monitor is None
    r = runner.invoke(cli, base + ["--saturation-threshold", "0.3", "-o", str(tmp_path / "b.h5")])
    assert r.exit_code == 2 and "--saturation-threshold" in r.stderr and not (tmp_path / "b.h5").exists()
    r = runner.invoke(cli, ["stats", str(tmp_path / "a.h5"), "--layers"])
    assert r.exit_code == 2 and "no monitoring data" in r.stderr


def test_stats_layers_tables_and_json(run_file):
    runner = CliRunner()
    r = runner.invoke(cli, ["stats", str(run_file), "--layers"])
    assert r.exit_code == 0, r.output
    for text in ("hidden layers", "weight layers", "Jacobian", "saturated", "p98", "at initialization",
                 "eq. 5", "update 120"):
        assert text in r.stdout
    assert any(ch in r.stdout for ch in "▁▂▃▄▅▆▇█")
    r = runner.invoke(cli, ["stats", str(run_file), "--layers", "--json", "--at", "50", "--at", "first"])
    payload = json.loads(r.stdout)
    points = payload["monitor"]["points"]
    assert [p["update"] for p in points] == [0, 50]
    layer = points[1]["hidden_layers"][2]
    assert set(layer) == {"layer", "activation", "preactivation", "backprop_grad", "jacobian"}
    assert set(layer["activation"]["percentiles"]) == {"2", "10", "25", "50", "75", "90", "98"}
    assert len(layer["activation"]["hist"]) == 100 and layer["jacobian"]["n_examples"] == 2
    assert len(points[0]["weight_layers"]) == 4
    assert payload["monitor"]["theory"]["activation_var_predicted"][0] > 0
    r = runner.invoke(cli, ["stats", str(run_file), "--layers", "--at", "soon"])
    assert r.exit_code == 2 and "--at" in r.stderr
    plain = runner.invoke(cli, ["stats", str(run_file)])
    assert "monitoring" in plain.stdout and "points" in plain.stdout


def test_plot_writes_every_figure_and_never_overwrites(run_file, blobs, tmp_path):
    pytest.importorskip("matplotlib")
    other = tmp_path / "other.h5"
    train(config(blobs, init="standard"), other, n_threads=1)
    runner = CliRunner()
    figs = tmp_path / "figs"
    r = runner.invoke(cli, ["plot", str(run_file), str(other), "-o", str(figs)])
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in figs.iterdir())
    assert len(written) == 11 and "fig2-activation-mean-std.png" in written
    assert all((figs / name).read_bytes()[:4] == b"\x89PNG" for name in written)
    before = (figs / "fig7-backprop-grad-hist.png").stat().st_mtime_ns
    r = runner.invoke(cli, ["plot", str(run_file), "-o", str(figs), "-f", "fig7"])
    assert r.exit_code == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert (figs / "fig7-backprop-grad-hist.png").stat().st_mtime_ns == before
    r = runner.invoke(cli, ["plot", str(run_file), "-o", str(figs), "-f", "fig7,fig3", "--at", "50", "--overwrite",
                            "--xscale", "log"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["plot", str(run_file), "-f", "fig5", "-o", str(figs)])
    assert r.exit_code == 2 and "unknown figure" in r.stderr


def test_plot_without_matplotlib_is_a_one_line_error(run_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = CliRunner().invoke(cli, ["plot", str(run_file), "-o", str(tmp_path / "f")])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "deepinit[plot]"' in lines[0]


def test_plot_of_an_unmonitored_run(blobs, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plain.h5"
    train(config(blobs, monitor=False), out, n_threads=1)
    runner = CliRunner()
    r = runner.invoke(cli, ["plot", str(out), "-f", "fig2", "-o", str(tmp_path / "f")])
    assert r.exit_code == 2 and "needs monitoring data" in r.stderr
    r = runner.invoke(cli, ["plot", str(out), "-o", str(tmp_path / "f")])
    assert r.exit_code == 0 and [p.name for p in (tmp_path / "f").iterdir()] == ["fig11-learning-curves.png"]
