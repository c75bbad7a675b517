"""Ctrl-C and SIGTERM stop a run between chunks, never inside a write (deepinit._signals)."""

import os
import signal
import subprocess
import sys
import time

import pytest

import deepinit.runfile as runfile
from deepinit import _signals
from deepinit.config import TrainConfig
from deepinit.runfile import read_run
from deepinit.training import train


def test_held_signals_become_a_request_raised_where_asked():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with _signals.held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handler runs: a request, no exception yet
            assert _signals.requested()
            _signals.raise_if_requested()
    assert not _signals.requested()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_request_left_at_the_end_of_the_block_is_raised_there():
    with pytest.raises(KeyboardInterrupt, match="SIGINT"):
        with _signals.held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert not _signals.requested()
    with _signals.held():  # nothing pending: the block ends quietly
        pass


def test_a_ctrl_c_inside_a_checkpoint_lets_the_write_finish_and_stops_at_the_next_chunk(blobs, tmp_path, monkeypatch):
    """An interrupt inside h5py can leave its lock taken (the next write then hangs): never let one land there."""
    real = runfile.write_atomic
    writes = []

    def write_and_get_interrupted(path, fill):
        def fill_through_a_signal(f):
            writes.append("started")
            if len(writes) == 3:  # the second checkpoint of the run: in the middle of training
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
            fill(f)
            writes.append("finished")

        real(path, fill_through_a_signal)
        return None

    monkeypatch.setattr(runfile, "write_atomic", write_and_get_interrupted)
    config = TrainConfig(dataset=blobs, hidden=[16, 16], lr=0.1, updates=400, eval_every=40,
                         monitor=False)
    updates_at_write = []
    out = tmp_path / "run.h5"
    with pytest.raises(KeyboardInterrupt):
        train(config, out, checkpoint_seconds=0,
              callback=lambda p: updates_at_write.append(p.update) if p.evaluated else None)
    # Every write ran to its end, the one the signal arrived in included, and the run
    # stopped at the first chunk boundary after it: update 40, then the final write.
    assert writes == ["started", "finished"] * 3
    run = read_run(out)
    assert run.status == "interrupted" and run.error == "interrupted by SIGINT"
    assert run.attrs["update"] == updates_at_write[-1] == 40


def test_sigterm_stops_deepinit_train_with_its_run_file_saying_interrupted(blobs, tmp_path):
    """A job scheduler stops a job with SIGTERM: the run file must not be left saying 'running'."""
    out = tmp_path / "run.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from deepinit.cli import main; main()", "train", "-d", blobs, "--hidden", "8",
         "--updates", "10000000", "--eval-every", "100", "--no-monitor", "-q", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # the first checkpoint: training has started
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    run = read_run(out)
    assert run.status == "interrupted" and run.error == "interrupted by SIGTERM"
    assert 0 < run.attrs["update"] < 10_000_000
