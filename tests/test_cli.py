"""The command line, through Click's CliRunner."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from deepinit.cli import cli
from deepinit.runfile import read_run


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    x = np.clip(0.5 + 0.3 * (y[:, None] * 2 - 1) * np.linspace(0, 1, 10) + rng.normal(0, 0.1, (300, 10)), 0, 1)
    path = tmp_path / "d.npz"
    np.savez(path, x=x.astype(np.float32), y=y)
    return str(path)


def run_train(runner, data, out, *extra):
    args = ["train", "-d", data, "--hidden", "8", "--updates", "60", "--eval-every", "20", "-o", str(out), *extra]
    return runner.invoke(cli, args)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_train_writes_a_readable_run_and_prints_json(runner, data, tmp_path):
    out = tmp_path / "run.h5"
    result = run_train(runner, data, out, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["updates"] == 60 and summary["path"] == str(out)
    assert result.stderr == ""  # --quiet
    run = read_run(out)
    assert run.curves["test_error"][-1] == summary["test_error"]


def test_train_shows_progress_and_init_table(runner, data, tmp_path):
    result = run_train(runner, data, tmp_path / "run.h5")
    assert result.exit_code == 0, result.output
    for text in ("initial weights", "realized std", "status", "completed", "run file"):
        assert text in result.stderr


def test_stats_prints_config_errors_and_curve(runner, data, tmp_path):
    out = tmp_path / "run.h5"
    run_train(runner, data, out, "--quiet")
    result = runner.invoke(cli, ["stats", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("completed", "configuration", "learning curve", "valid err", "best valid error"):
        assert text in result.stdout
    as_json = json.loads(runner.invoke(cli, ["stats", str(out), "--json"]).stdout)
    assert as_json["curves"]["update"] == [0, 20, 40, 60]
    assert as_json["config"]["hidden"] == [8]
    second = tmp_path / "run2.h5"
    run_train(runner, data, second, "--quiet", "--lr", "0.5")
    both = runner.invoke(cli, ["stats", str(out), str(second)])
    assert both.exit_code == 0 and "0.5" in both.stdout and "run2.h5" in both.stdout
    assert f"runs in {tmp_path.resolve()}" in both.stdout


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--activation", "swish"], ["--activation", "swish", "tanh"]),
        (["--width", "0", "--hidden", None], ["--width", "0"]),
        (["--hidden", "8,0"], ["--hidden", "positive"]),
        (["--lr", "-1"], ["--lr", "positive"]),
        (["-d", "missing.npz"], ["missing.npz", "does not exist"]),
        (["-d", "mnist", "--data-dir", "/nonexistent-dir"], ["--data-dir"]),
        (["--epochs", "1", "-d", "shapeset"], ["--epochs", "stream"]),
        (["--updates", "1", "--epochs", "1"], ["--updates", "--epochs"]),
        (["--valid-size", "abc"], ["--valid-size", "abc", "fraction"]),
        (["--test-size", "1.5"], ["--test-size", "fraction"]),
        (["--data-seed", "-1"], ["--data-seed", "-1"]),
        (["--threads", "0"], ["--threads"]),
    ],
)
def test_bad_input_is_one_line_exit_2(runner, data, tmp_path, args, fragments):
    base = ["train", "-d", data, "--hidden", "8", "-o", str(tmp_path / "r.h5")]
    args = list(args)
    if "--updates" not in args and "--epochs" not in args:
        base += ["--updates", "10"]
    if None in args:  # drop --hidden so that --width applies
        i = base.index("--hidden")
        del base[i : i + 2]
        args.remove(None)
        args.remove("--hidden")
    result = runner.invoke(cli, base + args)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "r.h5").exists()


def test_corrupt_data_file_is_one_line_error(runner, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip")
    result = runner.invoke(cli, ["train", "-d", str(bad), "-o", str(tmp_path / "r.h5")])
    assert_one_line_error(result, "bad.npz")


def test_existing_output_is_kept_and_overwrite_replaces_it(runner, data, tmp_path):
    out = tmp_path / "run.h5"
    out.write_bytes(b"keep me")
    result = run_train(runner, data, out)
    assert_one_line_error(result, "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert run_train(runner, data, out, "--overwrite", "-q").exit_code == 0
    assert read_run(out).status == "completed"


def test_unwritable_output_is_one_line_error(runner, data, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_train(runner, data, blocker / "run.h5")
    assert_one_line_error(result, "cannot write")
    result = run_train(runner, data, tmp_path)
    assert result.exit_code == 2


def test_stats_on_bad_files_is_one_line_error(runner, tmp_path):
    assert_one_line_error(runner.invoke(cli, ["stats", str(tmp_path / "nope.h5")]), "does not exist")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    assert_one_line_error(runner.invoke(cli, ["stats", str(junk)]), "junk.h5")


def test_help_and_version(runner):
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    result = runner.invoke(cli, ["train", "--help"])
    assert result.exit_code == 0 and "--activation" in result.stdout and "normalized" in result.stdout
    assert "deepinit" in runner.invoke(cli, ["--version"]).stdout
    assert_one_line_error(runner.invoke(cli, ["frobnicate"]), "frobnicate")
