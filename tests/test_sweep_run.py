"""Running sweeps: resume, failures, concurrent shards, interruption, Dask, aggregation of real runs."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from deepinit.cli import cli
from deepinit.runfile import read_run
from deepinit.sweep.manifest import SweepDir

pytestmark = pytest.mark.slow


@pytest.fixture
def runner():
    return CliRunner()


def small(blobs, *extra, updates=60, seeds="0-1"):
    """A small Table-1-style sweep on the blobs data: 2 activations x 2 lr x 2 seeds."""
    return ["--grid", "activation=tanh,softsign", "--grid", "lr=0.1,0.01", "--seeds", seeds,
            "-d", blobs, "--hidden", "8", "--updates", str(updates), "--eval-every", "20", "--no-monitor", *extra]


def sweep_cli(runner, path, *args):
    return runner.invoke(cli, ["sweep", str(path), "-q", *args])


def entries(path):
    return SweepDir(path).read()["cells"]


def mtimes(path):
    return {p.name: p.stat().st_mtime_ns for p in path.glob("*.h5")}


def test_a_sweep_runs_every_cell_and_resumes_without_rerunning(runner, blobs, tmp_path):
    path = tmp_path / "s"
    result = sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ran"] == {"completed": 8} and summary["status"] == {"completed": 8}
    cells = entries(path)
    assert len(cells) == 8 and all(e["status"] == "completed" and e["attempts"] == 1 for e in cells.values())
    for e in cells.values():  # each run file is the cell's own configuration
        run = read_run(path / e["file"], arrays=False)
        assert run.status == "completed" and run.config == e["config"]
        assert run.config["init_seed"] == run.config["data_seed"] == e["params"]["seed"]
    before = mtimes(path)
    again = sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["ran"] == {}
    # With no definition option, the stored sweep resumes as defined.
    assert sweep_cli(runner, path, "--jobs", "1").exit_code == 0
    assert mtimes(path) == before and all(e["attempts"] == 1 for e in entries(path).values())


def test_changed_definition_is_refused_and_nothing_is_touched(runner, blobs, tmp_path):
    path = tmp_path / "s"
    assert sweep_cli(runner, path, *small(blobs), "--jobs", "1").exit_code == 0
    before, manifest = mtimes(path), (path / "manifest.json").read_text()
    result = sweep_cli(runner, path, *small(blobs, "--depth", "2"), "--jobs", "1")
    assert result.exit_code == 2 and "different definition" in result.stderr and "--redefine" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert mtimes(path) == before and (path / "manifest.json").read_text() == manifest
    # --redefine: cells in both definitions keep their runs; new ones run.
    result = sweep_cli(runner, path, *small(blobs), "--grid", "lr=0.1,0.01,0.03", "--redefine", "--jobs", "1",
                       "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ran"] == {"completed": 4}
    assert {k: v for k, v in mtimes(path).items() if k in before} == before


def test_a_failing_cell_is_isolated_recorded_and_retried_on_request(runner, blobs, tmp_path, monkeypatch):
    import deepinit.training as training

    real_train = training.train

    def flaky(config, output, **kw):
        if config.activation == "softsign" and config.lr == 0.1 and config.init_seed == 1:
            raise RuntimeError("simulated crash")
        return real_train(config, output, **kw)

    monkeypatch.setattr(training, "train", flaky)
    path = tmp_path / "s"
    result = sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--json")
    assert result.exit_code == 1 and "1 cells failed" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == {"completed": 7, "failed": 1}
    failed = [e for e in entries(path).values() if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["error"] == "RuntimeError: simulated crash"
    assert failed[0]["params"] == {"activation": "softsign", "lr": 0.1, "seed": 1}
    # The table shows the failure as a missing seed.
    table = json.loads(runner.invoke(cli, ["stats", str(path), "--table", "--json"]).stdout)
    softsign = [r for r in table["rows"] if r["activation"] == "softsign"][0]
    assert softsign["unfinished"] == 1
    # Not retried unless asked...
    monkeypatch.setattr(training, "train", real_train)
    again = sweep_cli(runner, path, "--jobs", "1", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["ran"] == {}
    # ... and then only the failed cell runs.
    before = mtimes(path)
    retried = sweep_cli(runner, path, "--jobs", "1", "--retry-failed", "--json")
    assert retried.exit_code == 0 and json.loads(retried.stdout)["ran"] == {"completed": 1}
    assert all(e["status"] == "completed" for e in entries(path).values())
    assert entries(path)[failed[0]["file"][:-3]]["attempts"] == 2
    assert {k: v for k, v in mtimes(path).items() if k in before} == before


def test_a_foreign_file_in_the_way_fails_its_cell_and_is_kept(runner, blobs, tmp_path):
    path = tmp_path / "s"
    assert sweep_cli(runner, path, *small(blobs), "--dry-run").exit_code == 0
    assert not path.exists()  # a dry run writes nothing
    d = runner.invoke(cli, ["sweep", str(path), *small(blobs), "--shard", "1/8", "--jobs", "1", "-q"])
    assert d.exit_code == 0
    victim = [e for e in entries(path).values() if e["status"] == "pending"][0]
    (path / victim["file"]).write_text("someone's notes")
    result = sweep_cli(runner, path, "--jobs", "1")
    assert result.exit_code == 1
    assert "is not a run of this cell" in entries(path)[victim["file"][:-3]]["error"]
    assert (path / victim["file"]).read_text() == "someone's notes"


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _sweep_process(path, blobs, *extra, updates=60, seeds="0-1", background=False):
    """A sweep in a process of its own; ``background``: started with SIGINT ignored, as `cmd &` in a script."""
    return subprocess.Popen(
        [sys.executable, "-c", "from deepinit.cli import main; main()", "sweep", str(path), "-q",
         *small(blobs, updates=updates, seeds=seeds), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_ignore_sigint if background else None,
    )


def test_concurrent_shards_in_one_directory(blobs, tmp_path):
    path = tmp_path / "s"
    # Two shards, plus a duplicate of the first started by mistake: no cell runs twice.
    procs = [_sweep_process(path, blobs, "--shard", shard, "--jobs", "1") for shard in ("1/2", "2/2", "1/2")]
    for p in procs:
        _, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
    cells = entries(path)
    assert len(cells) == 8
    assert all(e["status"] == "completed" and e["attempts"] == 1 for e in cells.values())
    assert sorted(p.name for p in path.glob("*.h5")) == sorted(e["file"] for e in cells.values())
    assert not list(path.glob(".*.tmp"))


def test_interrupted_sweep_resumes_where_it_stopped(blobs, tmp_path):
    path = tmp_path / "s"
    proc = _sweep_process(path, blobs, "--jobs", "2", updates=100_000, background=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until some cells are done and others running
        if (path / "manifest.json").exists():
            statuses = [e["status"] for e in entries(path).values()]
            if statuses.count("completed") >= 2 and "running" in statuses:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # as a job scheduler stops a job
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "run the same command again to resume" in stderr, stderr
    cells = entries(path)
    done = {k for k, e in cells.items() if e["status"] == "completed"}
    assert 2 <= len(done) < 8
    assert "running" not in {e["status"] for e in cells.values()}
    interrupted = {k for k, e in cells.items() if e["status"] == "interrupted"}
    before = {k: (path / cells[k]["file"]).stat().st_mtime_ns for k in done}

    resumed = _sweep_process(path, blobs, "--jobs", "2", updates=100_000)
    _, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr
    cells = entries(path)
    statuses = {k: (e["status"], e["error"]) for k, e in cells.items()}
    assert all(status == "completed" for status, _ in statuses.values()), statuses
    assert all(cells[k]["attempts"] == 1 for k in done)
    assert all(cells[k]["attempts"] == 2 for k in interrupted)
    assert before == {k: (path / cells[k]["file"]).stat().st_mtime_ns for k in done}


def test_killed_worker_cells_are_rerun_on_resume(blobs, tmp_path):
    path = tmp_path / "s"
    proc = _sweep_process(path, blobs, "--jobs", "1", updates=100_000, seeds="0")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (path / "manifest.json").exists() and "running" in [e["status"] for e in entries(path).values()]:
            break
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no chance to record anything
    proc.communicate(timeout=30)
    running = [k for k, e in entries(path).items() if e["status"] == "running"]
    assert len(running) == 1
    resumed = _sweep_process(path, blobs, "--jobs", "1", updates=100_000, seeds="0")
    assert resumed.wait(timeout=180) == 0
    cells = entries(path)
    assert all(e["status"] == "completed" for e in cells.values()) and cells[running[0]]["attempts"] == 2


def test_dask_executor_on_a_local_cluster(runner, blobs, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the Dask executor needs the dask extra")
    path = tmp_path / "s"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = sweep_cli(runner, path, *small(blobs), "--executor", "dask", "--scheduler",
                           cluster.scheduler_address, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ran"] == {"completed": 8}
    hosts_pids = {(e["host"], e["pid"]) for e in entries(path).values()}
    assert os.getpid() not in {pid for _, pid in hosts_pids}   # trained on the workers
    # The same cells, trained locally, give the same errors (runs are deterministic).
    local = tmp_path / "local"
    assert sweep_cli(runner, local, *small(blobs), "--jobs", "1").exit_code == 0
    a = {e["file"]: e["result"]["best_valid_error"] for e in entries(path).values()}
    b = {e["file"]: e["result"]["best_valid_error"] for e in entries(local).values()}
    assert a == b


def test_stats_on_a_real_sweep(runner, blobs, tmp_path):
    path = tmp_path / "s"
    assert sweep_cli(runner, path, *small(blobs), "--jobs", "2").exit_code == 0
    table = json.loads(runner.invoke(cli, ["stats", str(path), "--table", "--by", "activation", "--json"]).stdout)
    # Recompute the tanh row by hand from the run files.
    runs = [read_run(p, arrays=False) for p in path.glob("*.h5")]
    tanh = [r for r in runs if r.config["activation"] == "tanh"]
    best = {}
    for lr in (0.1, 0.01):
        valids = [r.curves["valid_error"].min() for r in tanh if r.config["lr"] == lr]
        best[lr] = sum(valids) / len(valids)
    lr = min(best, key=best.get)
    row = [r for r in table["rows"] if r["activation"] == "tanh"][0]
    assert row["selected"] == {"lr": lr} and row["valid_error"] == pytest.approx(best[lr])
    tests = [r.curves["test_error"][r.curves["valid_error"].argmin()] for r in tanh if r.config["lr"] == lr]
    assert row["test_error_mean"] == pytest.approx(sum(tests) / len(tests))
    text = runner.invoke(cli, ["stats", str(path), "--table"])
    assert text.exit_code == 0 and "best lr" in text.stdout and "±" in text.stdout
    csv_text = runner.invoke(cli, ["stats", str(path), "--table", "--csv"]).stdout.splitlines()
    assert csv_text[0].startswith("activation,lr,n_seeds") and len(csv_text) == 3
    cells = runner.invoke(cli, ["stats", str(path)])
    assert cells.exit_code == 0 and "8 completed" in cells.stdout
    bad = runner.invoke(cli, ["stats", str(path), "--table", "--by", "depth"])
    assert bad.exit_code == 2 and "not swept" in bad.stderr


def test_sweep_cli_errors_are_one_line(runner, blobs, tmp_path):
    cases = [
        (["--jobs", "64"], "cores"),
        (["--shard", "3/2"], "1 <= K <= N"),
        (["--grid", "lr=abc"], "not a number"),
    ]
    for extra, fragment in cases:
        result = sweep_cli(runner, tmp_path / "s", *small(blobs), *extra)
        assert result.exit_code == 2 and fragment in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    result = sweep_cli(runner, tmp_path / "new")
    assert result.exit_code == 2 and "holds no sweep" in result.stderr
    result = sweep_cli(runner, tmp_path / "s2", "--grid", "lr=0.1", "-d", str(tmp_path / "missing.npz"))
    assert result.exit_code == 2 and "missing.npz" in result.stderr and not (tmp_path / "s2").exists()


def test_docs_describe_the_manifest_as_written(runner, blobs, tmp_path):
    """docs/sweeps.md names every key of a real manifest and of its cell entries, and no other."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "sweeps.md").read_text()
    path = tmp_path / "s"
    assert sweep_cli(runner, path, *small(blobs, seeds="0"), "--jobs", "1").exit_code == 0
    assert sweep_cli(runner, path, *small(blobs, seeds="0"), "--grid", "lr=0.1", "--redefine", "--jobs", "1").exit_code == 0
    manifest = SweepDir(path).read()
    section = doc[doc.index("`manifest.json` (format"):doc.index("Every change happens")]
    table, entry_text = section.split("A cell entry:")
    top = {k for row in table.splitlines() if row.startswith("| `") for k in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert top == set(manifest)
    definition = re.findall(r"`(\w+)` \(", table.split("`definition`")[1].splitlines()[0])
    assert set(definition) | {"random"} == set(manifest["definition"])
    entry_keys = set(re.findall(r"`(\w+)`", entry_text.split("once finished:")[0]))
    entry_keys -= {"seed", "pending", "running", "completed", "diverged", "failed", "interrupted"}
    entry = next(iter(manifest["cells"].values()))
    assert entry_keys == set(entry)
    result_keys = set(re.findall(r"`(\w+)`", entry_text.split("once finished:")[1]))
    assert result_keys == set(entry["result"])


def test_a_finished_run_file_is_adopted_not_retrained(runner, blobs, tmp_path):
    """If the manifest lost a cell's outcome (a crash between the two writes), its run file is the truth."""
    path = tmp_path / "s"
    assert sweep_cli(runner, path, *small(blobs, seeds="0"), "--jobs", "1").exit_code == 0
    sweep = SweepDir(path)
    cid = next(iter(entries(path)))
    expected = entries(path)[cid]["result"]
    with sweep._update() as data:
        data["cells"][cid].update(status="pending", result=None)
    before = mtimes(path)
    assert sweep_cli(runner, path, "--jobs", "1").exit_code == 0
    assert mtimes(path) == before
    entry = entries(path)[cid]
    assert entry["status"] == "completed" and entry["attempts"] == 2
    assert {k: entry["result"][k] for k in ("best_valid_error", "updates", "examples")} == \
        {k: expected[k] for k in ("best_valid_error", "updates", "examples")}


def test_sigterm_interrupts_running_cells_of_a_background_sweep(blobs, tmp_path):
    """Started as `deepinit sweep ... &` from a script (SIGINT ignored), SIGTERM still stops the running cell."""
    path = tmp_path / "s"
    args = ["--grid", "lr=0.1", "--seeds", "0", "-d", blobs, "--hidden", "8", "--updates", "3000000",
            "--eval-every", "100000", "--no-monitor", "--jobs", "2"]
    proc = subprocess.Popen([sys.executable, "-c", "from deepinit.cli import main; main()", "sweep", str(path), "-q",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ignore_sigint)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (path / "manifest.json").exists() and [e["status"] for e in entries(path).values()] == ["running"]:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    # The cell needs about 20 s; stopping must not wait for it.
    assert time.monotonic() - start < 8, "the sweep waited for its running cell"
    assert proc.returncode == 2 and "resume" in stderr
    (entry,) = entries(path).values()
    assert entry["status"] == "interrupted"
    assert read_run(path / entry["file"], arrays=False).status == "interrupted"


def test_an_interrupt_just_after_the_claim_leaves_no_running_cell(runner, blobs, tmp_path, monkeypatch):
    # The race CI once hit: SIGINT lands in a worker after its claim is written, before training.
    from deepinit.sweep.execute import run_cell

    path = tmp_path / "s"
    sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--shard", "1/8")  # writes the manifest
    pending = [k for k, e in entries(path).items() if e["status"] == "pending"]
    real_claim = SweepDir.claim

    def claim_then_interrupt(self, *args, **kwargs):
        real_claim(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(SweepDir, "claim", claim_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_cell(str(path), pending[0])
    entry = entries(path)[pending[0]]
    assert entry["status"] == "interrupted" and entry["attempts"] == 1


def test_release_marks_only_claims_of_dead_processes(blobs, tmp_path, runner):
    path = tmp_path / "s"
    sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--shard", "1/8")
    sweep = SweepDir(path)
    ids = [k for k, e in entries(path).items() if e["status"] == "pending"][:3]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with sweep._update() as data:
            for cid, pid in zip(ids, (dead.pid, alive.pid, os.getpid())):
                data["cells"][cid].update(status="running", host=socket.gethostname(), pid=pid)
        assert sweep.release(ids, "interrupted", "x") == [ids[0]]
        assert sweep.release(ids, "interrupted", "x", own=True) == [ids[2]]
        assert [entries(path)[c]["status"] for c in ids] == ["interrupted", "running", "interrupted"]
    finally:
        alive.kill()
        alive.wait()


def test_a_lost_dask_task_never_overwrites_an_outcome(blobs, tmp_path, runner, monkeypatch):
    # The cell's status is checked and the failure written under one lock: a cell
    # finished by another process in between keeps its outcome.
    from deepinit.sweep.execute import CellOutcome, _record_task_failure

    path = tmp_path / "s"
    sweep_cli(runner, path, *small(blobs), "--jobs", "1", "--shard", "1/8")
    sweep = SweepDir(path)
    done = next(k for k, e in entries(path).items() if e["status"] == "completed")
    claimed = next(k for k, e in entries(path).items() if e["status"] == "pending")
    with sweep._update() as data:
        data["cells"][claimed].update(status="running")
    # Any read outside the lock is stale: it still sees both cells running.
    real_cell = SweepDir.cell
    monkeypatch.setattr(SweepDir, "cell", lambda self, cid: {**real_cell(self, cid), "status": "running"})
    for cid in (done, claimed):
        _record_task_failure(sweep, CellOutcome(cid, "failed", error="dask task failed: KilledWorker"))
    after = entries(path)
    assert after[done]["status"] == "completed" and after[done]["error"] is None
    assert after[claimed]["status"] == "failed" and "KilledWorker" in after[claimed]["error"]
    assert not sweep.finish(done, "failed", "x", None, only_from=("running", "pending"))
