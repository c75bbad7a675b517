"""docs/run-file.md and the code agree: every object written is documented and vice versa."""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from deepinit.config import TrainConfig
from deepinit.runfile import SCHEMA_VERSION
from deepinit.training import train

DOC = Path(__file__).resolve().parents[1] / "docs" / "run-file.md"


def documented():
    """(path, kind, type) rows of the doc's object table."""
    rows = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \| (attr|group|dataset) \| ([^|]*)\|", line)
        if m:
            rows.append((m.group(1), m.group(2), m.group(3).strip()))
    return rows


def written(path):
    """Every object of a real file, with layer numbers and config keys generalized."""
    found = set()

    def norm(name):
        return re.sub(r"layer_\d+", "layer_{l}", name)

    with h5py.File(path) as f:
        def visit(name, obj):
            kind = "group" if isinstance(obj, h5py.Group) else "dataset"
            found.add((norm("/" + name), kind))
            for attr in obj.attrs:
                found.add((norm(f"/{name}@{attr}"), "attr"))

        for attr in f.attrs:
            found.add((f"/@{attr}", "attr"))
        f.visititems(visit)
    return found


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    rng = np.random.default_rng(0)
    np.savez(tmp / "d.npz", x=rng.uniform(0, 1, (100, 6)).astype(np.float32), y=rng.integers(0, 3, 100))
    out = tmp / "run.h5"
    train(TrainConfig(dataset=str(tmp / "d.npz"), hidden=[5, 4], updates=20, eval_every=10), out)
    return out


def test_doc_states_the_current_schema_version():
    assert f"schema version {SCHEMA_VERSION}" in DOC.read_text().splitlines()[0]


def test_every_written_object_is_documented(run_path):
    doc = {(p, k) for p, k, _ in documented()}
    wildcard_config = ("/config@*", "attr") in doc
    missing = sorted(
        obj for obj in written(run_path)
        if obj not in doc and not (wildcard_config and obj[0].startswith("/config@"))
    )
    assert not missing, f"written but not in docs/run-file.md: {missing}"


def test_every_documented_object_is_written(run_path):
    got = written(run_path)
    absent = sorted((p, k) for p, k, _ in documented() if "*" not in p and (p, k) not in got)
    assert not absent, f"documented but not written: {absent}"


def test_documented_dataset_dtypes(run_path):
    with h5py.File(run_path) as f:
        for path, kind, typ in documented():
            if kind != "dataset" or "{l}" in path:
                continue
            dtype = str(f[path].dtype)
            assert typ.split()[0] == dtype or typ.startswith("float32/64"), (path, typ, dtype)
        W = f["params/layer_1/W"]
        assert W.shape == (6, 5) and W.dtype == np.float32
