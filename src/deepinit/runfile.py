"""HDF5 run files (layout: ``docs/run-file.md``, schema version :data:`SCHEMA_VERSION`).

One file per run. Pure Python over h5py: the kernels know nothing of files.

Crash safety: the file on disk is always complete. Every write builds a whole
new file beside the target (``.NAME.PID.tmp``), flushes it to disk and
atomically renames it over the target. A run killed at any moment leaves the
previous checkpoint intact (with ``status = "running"`` and the time of its last
update), never a half-written file. Readers may open the file while the run is
in progress: they see the latest checkpoint.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._version import __version__
from .errors import DeepinitError

FORMAT = "deepinit-run"
SCHEMA_VERSION = 1
STATUSES = ("running", "completed", "diverged", "failed", "interrupted")
CURVE_FIELDS = (
    "update",
    "examples",
    "wall_time",
    "train_cost",
    "train_error",
    "valid_cost",
    "valid_error",
    "test_cost",
    "test_error",
)
INIT_FIELDS = ("fan_in", "fan_out", "target_std", "realized_std")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #

def check_output_path(path: str | os.PathLike, overwrite: bool) -> Path:
    """Check, before any work, that a run file can be written at ``path``.

    Creates missing parent directories. Raises DeepinitError when the file
    exists (and ``overwrite`` is false), is a directory, or its directory is
    not writable. Nothing on disk is modified otherwise.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DeepinitError(f"output {str(path)!r} is a directory; give a file name such as {str(path / 'run.h5')!r}")
    if path.exists() and not overwrite:
        raise DeepinitError(f"{str(path)!r} already exists; choose another --output or pass --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise DeepinitError(
            f"cannot write the run file in {str(path.parent)!r} ({exc.strerror or exc}); choose a writable --output"
        ) from None
    return path


def write_atomic(path: Path, fill: Callable[[Any], None]) -> None:
    """Write an HDF5 file through ``fill(h5py.File)``, then atomically replace ``path``."""
    import h5py

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        try:  # make the rename itself durable
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
    finally:
        if tmp.exists():
            tmp.unlink()


def _set_attrs(attrs, values: dict[str, Any]) -> None:
    """Store JSON-able values as HDF5 attributes (None is skipped: HDF5 has no null)."""
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (dict,)):
            attrs[key] = json.dumps(value, sort_keys=True)
        else:
            attrs[key] = value


@dataclass
class RunWriter:
    """The in-memory state of a run, written whole at every checkpoint.

    Parameters
    ----------
    path : Path
        Target file (checked with :func:`check_output_path`).
    config : dict
        The full training configuration (``TrainConfig.to_dict()``).
    dataset : dict
        ``Dataset.describe()``.
    network : dict
        ``sizes``, ``activations``, ``cost``, ``dtype``.
    runtime : dict
        ``n_threads``, ``openmp`` and other facts about where it ran.
    """

    path: Path
    config: dict[str, Any]
    dataset: dict[str, Any]
    network: dict[str, Any]
    runtime: dict[str, Any]
    status: str = "running"
    error: str = ""
    total_updates: int = 0
    curves: dict[str, list] = field(default_factory=lambda: {k: [] for k in CURVE_FIELDS})
    init: dict[str, list] = field(default_factory=lambda: {k: [] for k in INIT_FIELDS})
    created: str = field(default_factory=now_iso)
    elapsed: float = 0.0
    update: int = 0
    examples: int = 0
    monitor: Any = None   # a deepinit.monitor.Monitor, written under /monitor when set

    def add_point(self, **values: float) -> None:
        """Append one point of the learning curves (every field of CURVE_FIELDS)."""
        missing = set(CURVE_FIELDS) - set(values)
        if missing:
            raise ValueError(f"curve point lacks {sorted(missing)}")
        for key in CURVE_FIELDS:
            self.curves[key].append(values[key])

    def write(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        """Checkpoint: write everything, with these parameters, atomically."""
        if self.status not in STATUSES:
            raise ValueError(f"bad status {self.status!r}")

        def fill(f) -> None:
            _set_attrs(
                f.attrs,
                {
                    "format": FORMAT,
                    "schema_version": SCHEMA_VERSION,
                    "deepinit_version": __version__,
                    "status": self.status,
                    "error": self.error,
                    "created": self.created,
                    "updated": now_iso(),
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "elapsed_s": float(self.elapsed),
                    "update": int(self.update),
                    "examples": int(self.examples),
                    "total_updates": int(self.total_updates),
                },
            )
            g = f.create_group("config")
            g.attrs["json"] = json.dumps(self.config, sort_keys=True)
            _set_attrs(g.attrs, self.config)
            g = f.create_group("dataset")
            g.attrs["json"] = json.dumps(self.dataset, sort_keys=True)
            g = f.create_group("network")
            _set_attrs(g.attrs, self.network)
            g = f.create_group("runtime")
            _set_attrs(g.attrs, self.runtime)
            g = f.create_group("curves")
            for key in CURVE_FIELDS:
                dtype = np.int64 if key in ("update", "examples") else np.float64
                g.create_dataset(key, data=np.asarray(self.curves[key], dtype=dtype))
            g = f.create_group("init")
            for key in INIT_FIELDS:
                dtype = np.int64 if key.startswith("fan") else np.float64
                g.create_dataset(key, data=np.asarray(self.init[key], dtype=dtype))
            g = f.create_group("params")
            g.attrs["update"] = int(self.update)
            for layer, (W, b) in enumerate(zip(weights, biases), start=1):
                lg = g.create_group(f"layer_{layer}")
                lg.create_dataset("W", data=W)
                lg.create_dataset("b", data=b)
            if self.monitor is not None:
                _write_tree(f.create_group("monitor"), self.monitor.tree())

        write_atomic(self.path, fill)


def _write_tree(group, tree: dict[str, Any]) -> None:
    """Write ``{"@attrs": {...}, name: ndarray | subtree}`` into an HDF5 group."""
    for key, value in tree.items():
        if key == "@attrs":
            _set_attrs(group.attrs, value)
        elif isinstance(value, dict):
            _write_tree(group.create_group(key), value)
        else:
            group.create_dataset(key, data=value)


def _read_tree(group) -> dict[str, Any]:
    """The inverse of :func:`_write_tree` (attributes as plain Python values)."""
    import h5py

    tree: dict[str, Any] = {"@attrs": {k: _plain(v) for k, v in group.attrs.items()}}
    for key, obj in group.items():
        tree[key] = _read_tree(obj) if isinstance(obj, h5py.Group) else obj[()]
    return tree


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #

@dataclass
class Run:
    """A run file read back (see ``docs/run-file.md``)."""

    path: Path
    attrs: dict[str, Any]
    config: dict[str, Any]
    dataset: dict[str, Any]
    network: dict[str, Any]
    runtime: dict[str, Any]
    curves: dict[str, np.ndarray]
    init: dict[str, np.ndarray]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    monitor: dict[str, Any] | None = None   # the /monitor group (docs/monitoring.md), if recorded

    @property
    def status(self) -> str:
        return self.attrs["status"]

    @property
    def error(self) -> str:
        return self.attrs.get("error", "")


def curve_summary(curves: dict[str, Any]) -> dict[str, Any]:
    """The numbers a run is judged by, from its learning curves.

    ``best_valid_error`` is the lowest validation error recorded (NaN points
    skipped), ``test_error_at_best_valid`` the test error at that point (early
    stopping on the validation set); ``valid_error`` and ``test_error`` are
    the last recorded values. NaN throughout when nothing was recorded.
    """
    valid = np.asarray(curves["valid_error"], dtype=float)
    nan = float("nan")
    out = {"updates": int(curves["update"][-1]) if len(valid) else 0,
           "valid_error": float(valid[-1]) if len(valid) else nan,
           "test_error": float(curves["test_error"][-1]) if len(valid) else nan,
           "best_valid_error": nan, "best_update": None, "test_error_at_best_valid": nan}
    if len(valid) and not np.isnan(valid).all():
        best = int(np.nanargmin(valid))
        out.update(best_valid_error=float(valid[best]), best_update=int(curves["update"][best]),
                   test_error_at_best_valid=float(curves["test_error"][best]))
    return out


def _plain(value: Any) -> Any:
    """HDF5 attribute value -> plain Python (str, int, float, list)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_run(path: str | os.PathLike, arrays: bool = True) -> Run:
    """Read a run file; raise DeepinitError if it is missing, unreadable or not a run file.

    With ``arrays=False`` the parameters and the monitoring record are not read
    (``weights`` and ``biases`` are empty, ``monitor`` is None): fast, for
    tables over many runs.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DeepinitError(f"run file {str(path)!r} does not exist; give the path of a .h5 file written by deepinit train")
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            if attrs.get("format") != FORMAT:
                raise DeepinitError(f"{str(path)!r} is an HDF5 file but not a deepinit run file")
            if attrs.get("schema_version", 0) > SCHEMA_VERSION:
                raise DeepinitError(
                    f"{str(path)!r} has run-file schema {attrs['schema_version']}, newer than this "
                    f"deepinit ({__version__}, schema {SCHEMA_VERSION}); upgrade deepinit"
                )
            layers = sorted(f["params"], key=lambda name: int(name.split("_")[1]))
            return Run(
                path=path,
                attrs=attrs,
                config=json.loads(f["config"].attrs["json"]),
                dataset=json.loads(f["dataset"].attrs["json"]),
                network={k: _plain(v) for k, v in f["network"].attrs.items()},
                runtime={k: _plain(v) for k, v in f["runtime"].attrs.items()},
                curves={k: f["curves"][k][()] for k in f["curves"]},
                init={k: f["init"][k][()] for k in f["init"]},
                weights=[f["params"][name]["W"][()] for name in layers] if arrays else [],
                biases=[f["params"][name]["b"][()] for name in layers] if arrays else [],
                monitor=_read_tree(f["monitor"]) if arrays and "monitor" in f else None,
            )
    except DeepinitError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DeepinitError(f"cannot read run file {str(path)!r}: {exc}; it is corrupt or not a deepinit run file") from None
