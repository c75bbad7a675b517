"""A sweep directory: ``manifest.json`` (definition, cells, status, errors) and the run files.

Several processes, on several machines, may work in one sweep directory at the
same time (shards of a job array, Dask workers). Every change to the manifest
happens under an exclusive POSIX lock on ``.manifest.lock`` (``fcntl.lockf``,
which NFS also honours) and is written atomically (a temporary file, then
``os.replace``), so readers never see half a manifest and no update is lost.

A worker *claims* a cell before training it (status ``running``, with its host
and process id) and records the outcome when done. A claim whose process is
gone (same host, process not alive) is stale: the cell is run again. Claims by
other hosts cannot be checked from here; ``reclaim=True`` treats them as stale
(for when no other shard is running any more).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterator

from .._version import __version__
from ..errors import DeepinitError
from ..runfile import now_iso
from .definition import Cell, SweepDefinition

FORMAT = "deepinit-sweep"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".manifest.lock"
# Outcomes that re-running the sweep does not redo: training is deterministic,
# so a completed or diverged cell would only give the same run again.
DONE = ("completed", "diverged")
CELL_STATUSES = ("pending", "running", "completed", "diverged", "failed", "interrupted")


def owner() -> dict[str, Any]:
    """Who is running a cell: this host and process."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(entry: dict[str, Any], reclaim: bool = False) -> bool:
    """True for a ``running`` claim whose process is known to be gone (or ``reclaim``)."""
    if entry.get("status") != "running":
        return False
    if entry.get("host") != socket.gethostname():
        return reclaim
    return not _alive(int(entry.get("pid", -1)))


def skip_reason(entry: dict[str, Any], retry_failed: bool = False, reclaim: bool = False) -> str:
    """Why a cell is not to be run now ("" when it is): its status, or nothing.

    Completed and diverged cells are done; failed ones wait for ``retry_failed``;
    running ones are left to their live process (see :func:`is_stale`).
    """
    status = entry["status"]
    if status in DONE or (status == "failed" and not retry_failed):
        return status
    if status == "running" and not is_stale(entry, reclaim):
        return status
    return ""


def count_statuses(statuses) -> dict[str, int]:
    """How many of each status, in the order of CELL_STATUSES, zero counts left out."""
    from collections import Counter

    counts = Counter(statuses)
    return {s: counts[s] for s in CELL_STATUSES if counts[s]}


class SweepDir:
    """A sweep directory on disk. All manifest access goes through this class."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().absolute()
        self.manifest_path = self.path / MANIFEST

    # --------------------------------------------------------------- low level
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's exclusive lock (blocks until it is free)."""
        with open(self.path / LOCK, "a+") as fh:
            fcntl.lockf(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(fh, fcntl.LOCK_UN)

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read(self) -> dict[str, Any]:
        """The manifest (a consistent snapshot; no lock needed to read)."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise DeepinitError(
                f"{str(self.path)!r} is not a sweep directory (no {MANIFEST}); "
                "give the directory a 'deepinit sweep' wrote") from None
        except (OSError, ValueError) as exc:
            raise DeepinitError(f"cannot read {str(self.manifest_path)!r}: {exc}; the manifest is corrupt") from None
        if data.get("format") != FORMAT:
            raise DeepinitError(f"{str(self.manifest_path)!r} is not a deepinit sweep manifest")
        if data.get("version", 0) > VERSION:
            raise DeepinitError(f"{str(self.manifest_path)!r} has sweep manifest version {data['version']}, "
                                f"newer than this deepinit ({__version__}); upgrade deepinit")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write the manifest under the lock."""
        with self.locked():
            data = self.read()
            yield data
            data["updated"] = now_iso()
            self._write(data)

    def cell(self, cell_id: str) -> dict[str, Any]:
        """One cell's manifest entry."""
        return self.read()["cells"][cell_id]

    # --------------------------------------------------------------- the sweep
    def prepare(self, definition: SweepDefinition, cells: list[Cell], redefine: bool = False) -> dict[str, Any]:
        """Create the manifest, or check that the sweep on disk is this one.

        Returns the manifest. With ``redefine``, a different definition replaces
        the stored one: cells that are in both keep their status and runs; cells
        no longer in the sweep leave the manifest, their run files stay on disk.

        Raises
        ------
        DeepinitError
            The directory holds a different sweep (and not ``redefine``), or is
            not writable, or holds files that are not a sweep.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with self.locked():
                if not self.exists():
                    if any(p for p in self.path.iterdir() if p.name != LOCK):
                        raise DeepinitError(
                            f"{str(self.path)!r} is not empty and holds no sweep; choose a new or empty directory")
                    data = {
                        "format": FORMAT, "version": VERSION, "deepinit_version": __version__,
                        "created": now_iso(), "updated": now_iso(),
                        "definition": definition.to_dict(),
                        "cells": {c.id: _new_entry(c) for c in cells},
                    }
                    self._write(data)
                    return data
                data = self.read()
                old_ids, new_ids = list(data["cells"]), [c.id for c in cells]
                if data["definition"] == definition.to_dict() and old_ids == new_ids:
                    return data
                if not redefine:
                    raise DeepinitError(
                        f"{str(self.path)!r} holds a sweep with a different definition "
                        f"({_difference(data, definition, old_ids, new_ids)}); rerun with the same options "
                        "(or none, to resume it as defined), pass --redefine to change it, or use a new directory")
                cells_old = data["cells"]
                data["definition"] = definition.to_dict()
                data["cells"] = {c.id: cells_old.get(c.id) or _new_entry(c) for c in cells}
                for c in cells:  # the order and params follow the new definition
                    data["cells"][c.id].update(index=c.index, params=c.params, trial=c.trial)
                data["redefined"] = now_iso()
                data["updated"] = now_iso()
                self._write(data)
                return data
        except OSError as exc:
            raise DeepinitError(
                f"cannot write the sweep directory {str(self.path)!r} ({exc.strerror or exc}); "
                "choose a writable directory") from None

    def definition(self) -> SweepDefinition:
        return SweepDefinition.from_dict(self.read()["definition"])

    def claim(self, cell_id: str, retry_failed: bool = False, reclaim: bool = False) -> tuple[dict | None, str]:
        """Mark a cell ``running`` by this process, if it is to be run.

        Returns ``(entry, "")`` when claimed, else ``(None, why)`` with why in
        ``completed``, ``diverged``, ``failed`` (not retried), ``running``
        (claimed by a live process).
        """
        with self._update() as data:
            entry = data["cells"][cell_id]
            why = skip_reason(entry, retry_failed, reclaim)
            if why:
                return None, why
            entry.update(status="running", error=None, started=now_iso(), finished=None,
                         attempts=entry.get("attempts", 0) + 1, **owner())
            return dict(entry), ""

    def finish(self, cell_id: str, status: str, error: str | None, result: dict | None,
               only_from: tuple[str, ...] | None = None) -> bool:
        """Record a claimed cell's outcome.

        With ``only_from``, only if the cell's status is one of those, checked under
        the same lock as the write (another process may have finished the cell
        since this one last read the manifest). Returns whether it was recorded.
        """
        with self._update() as data:
            entry = data["cells"][cell_id]
            if only_from is not None and entry["status"] not in only_from:
                return False
            entry.update(status=status, error=error, finished=now_iso(), result=result)
            return True

    def release(self, cell_ids: list[str], status: str, error: str, own: bool = False) -> list[str]:
        """Record ``status`` for those of ``cell_ids`` still ``running`` under a dead claim.

        A claim is dead when its process on this host is gone (see
        :func:`is_stale`); with ``own``, claims by this very process count too
        (it is giving them up). Returns the ids released.
        """
        me = owner()
        released = []
        with self._update() as data:
            for cid in cell_ids:
                entry = data["cells"][cid]
                mine = own and entry.get("status") == "running" and all(entry.get(k) == v for k, v in me.items())
                if mine or is_stale(entry):
                    entry.update(status=status, error=error, finished=now_iso())
                    released.append(cid)
        return released


def _new_entry(cell: Cell) -> dict[str, Any]:
    return {
        "index": cell.index, "file": cell.file, "params": cell.params, "trial": cell.trial,
        "config": cell.config.to_dict(), "status": "pending", "error": None, "attempts": 0,
    }


def _difference(data: dict, definition: SweepDefinition, old_ids: list[str], new_ids: list[str]) -> str:
    """Say in a few words how the stored sweep differs from ``definition``."""
    old, new = data["definition"], definition.to_dict()
    parts = []
    for section in ("fixed", "grid"):
        for key in sorted(set(old[section]) | set(new[section])):
            a, b = old[section].get(key), new[section].get(key)
            if a != b:
                parts.append(f"{section} {key}: {_short(a)} -> {_short(b)}")
    if old["seeds"] != new["seeds"]:
        parts.append(f"seeds: {_short(old['seeds'])} -> {_short(new['seeds'])}")
    if old["random"] != new["random"]:
        parts.append(f"random: {_short(old['random'])} -> {_short(new['random'])}")
    if not parts:
        parts.append(f"{len(set(old_ids) ^ set(new_ids))} cells differ; deepinit's defaults may have changed")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = "unset" if value is None else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
