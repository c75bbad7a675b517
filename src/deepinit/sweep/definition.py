"""What a sweep is: grid axes, seeds, random-search priors and fixed options; its cells.

A sweep definition expands into an ordered list of :class:`Cell`, one training run
each: random-search trials (outermost) x grid axes (in the order given) x seeds
(innermost). Each cell's id is derived from its full training configuration, so
the same configuration gets the same id, and the same run file name, in any sweep.

Random trial ``t`` draws its values from ``numpy.random.default_rng([seed, t])``:
raising the number of trials keeps the earlier trials (Bengio 2012, sec. 3.4:
"launch another 50 or 100 without wasting the first 100").
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..errors import DeepinitError

SEED = "seed"  # the seed axis: one value sets both init_seed and data_seed
# Where the data lives does not change a run: it is left out of the cell id.
NOT_IN_ID = ("data_dir",)
PRIOR_KINDS = ("loguniform", "uniform", "int", "logint", "choice")


def option_key(name: str) -> str:
    """``--init-seed`` / ``init-seed`` / ``init_seed`` -> ``init_seed``."""
    return name.strip().lstrip("-").replace("-", "_")


def parse_seeds(text: str | int | list) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,3,7"``, ``"0-2,10"``, ``5`` or ``[0, 1]`` also work."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, list):
        items = [str(v) for v in text]
    else:
        items = [part.strip() for part in str(text).split(",")]
    seeds: list[int] = []
    for item in items:
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if m is None or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise DeepinitError(f"seeds {text!r}: give non-negative integers and ranges such as 0-4 or 0,3,7")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise DeepinitError(f"seeds {text!r} lists a seed twice; each seed must appear once")
    return seeds


@dataclass(frozen=True)
class Prior:
    """A random-search prior for one option: ``kind:args`` as written by the user.

    ``loguniform:A:B`` and ``uniform:A:B`` draw floats in [A, B) (uniform in the
    log domain, or not); ``int:A:B`` and ``logint:A:B`` draw integers in [A, B]
    (``logint``: uniform in the log domain, then rounded); ``choice:X,Y,Z`` draws
    one of the values with equal probability.
    """

    key: str
    kind: str
    args: tuple

    @classmethod
    def parse(cls, key: str, text: str) -> "Prior":
        kind, _, rest = str(text).partition(":")
        kind = kind.strip()
        if kind not in PRIOR_KINDS or not rest:
            raise DeepinitError(
                f"prior {key}={text!r}: write KIND:ARGS with KIND one of {', '.join(PRIOR_KINDS)}, "
                "e.g. lr=loguniform:1e-4:1e-1, depth=int:1:5, activation=choice:tanh,softsign"
            )
        if kind == "choice":
            values = [v.strip() for v in rest.split(",") if v.strip()]
            if not values:
                raise DeepinitError(f"prior {key}={text!r}: choice needs at least one value, e.g. choice:tanh,softsign")
            return cls(key, kind, tuple(TrainConfig.coerce(key, v) for v in values))
        parts = rest.split(":")
        try:
            lo, hi = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
        except ValueError:
            lo = hi = math.nan
        if not lo < hi or (kind.startswith("log") and lo <= 0) or (
                kind in ("int", "logint") and not (lo.is_integer() and hi.is_integer())):
            raise DeepinitError(
                f"prior {key}={text!r}: {kind} needs two bounds LOW:HIGH with LOW < HIGH"
                + (", both positive" if kind.startswith("log") else "")
                + (", both integers" if kind in ("int", "logint") else "")
            )
        if kind in ("int", "logint"):
            return cls(key, kind, (int(lo), int(hi)))
        return cls(key, kind, (lo, hi))

    def spec(self) -> str:
        """The text this prior was parsed from (canonical form)."""
        if self.kind == "choice":
            return "choice:" + ",".join(
                "x".join(map(str, v)) if isinstance(v, list) else str(v) for v in self.args)
        return f"{self.kind}:{self.args[0]!r}:{self.args[1]!r}"

    def sample(self, rng) -> Any:
        """One value, typed for the option (an int for depth, a float for lr...)."""
        if self.kind == "choice":
            value = self.args[int(rng.integers(len(self.args)))]
        elif self.kind == "uniform":
            value = float(rng.uniform(*self.args))
        elif self.kind == "loguniform":
            value = float(math.exp(rng.uniform(math.log(self.args[0]), math.log(self.args[1]))))
        elif self.kind == "int":
            value = int(rng.integers(self.args[0], self.args[1] + 1))
        else:  # logint
            # Uniform in log space over [lo, hi + 1), floored: each integer gets its log-width.
            lo, hi = self.args
            value = min(int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))), hi)
        return TrainConfig.coerce(self.key, value)


@dataclass(frozen=True)
class Cell:
    """One training run of a sweep.

    ``params`` holds the swept values of this cell (grid axes, random-search
    values, and ``seed``); ``config`` the full training configuration.
    """

    index: int
    id: str
    params: dict[str, Any]
    config: TrainConfig
    trial: int | None = None

    @property
    def file(self) -> str:
        return f"{self.id}.h5"


@dataclass
class SweepDefinition:
    """A sweep: options fixed for every cell, grid axes, seeds and random-search priors."""

    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    seeds: list[int] | None = None
    trials: int = 0
    priors: dict[str, Prior] = field(default_factory=dict)
    random_seed: int = 0

    # ----------------------------------------------------------------- building
    @classmethod
    def from_options(
        cls,
        base: "SweepDefinition | None" = None,
        *,
        fixed: dict[str, Any] | None = None,
        grid: list[str] = (),
        seeds: str | None = None,
        trials: int | None = None,
        priors: list[str] = (),
        random_seed: int | None = None,
    ) -> "SweepDefinition":
        """A definition from command-line texts (``--grid lr=0.1,0.01`` ...), over ``base``.

        Values given here replace those of ``base`` (a sweep file's definition):
        a grid axis or prior of the same option, the seeds, the trial count.
        """
        d = cls() if base is None else cls.from_dict(base.to_dict())
        for key, value in (fixed or {}).items():
            d.fixed[option_key(key)] = TrainConfig.coerce(option_key(key), value)
        for text in grid:
            key, values = _split_assignment(text, "--grid", "lr=0.1,0.03,0.01")
            d.grid[key] = _grid_values(key, values.split(","))
        for text in priors:
            key, spec = _split_assignment(text, "--prior", "lr=loguniform:1e-4:1e-1")
            d.priors[key] = Prior.parse(key, spec)
        if seeds is not None:
            d.seeds = parse_seeds(seeds)
        if trials is not None:
            d.trials = trials
        if random_seed is not None:
            d.random_seed = random_seed
        d.check()
        return d

    @classmethod
    def from_toml(cls, path: str | Path) -> "SweepDefinition":
        """Read a sweep file (format: docs/sweeps.md)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise DeepinitError(f"sweep file {str(path)!r} does not exist; give the path of a .toml sweep file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DeepinitError(f"cannot read sweep file {str(path)!r}: {exc}; fix the TOML syntax") from None
        unknown = sorted(set(data) - {"fixed", "grid", "seeds", "random"})
        random = data.get("random", {})
        unknown += [f"random.{k}" for k in sorted(set(random) - {"trials", "seed", "priors"})]
        if unknown:
            raise DeepinitError(
                f"sweep file {str(path)!r}: unknown entries {unknown}; use [fixed], [grid], seeds and "
                "[random] with trials, seed and [random.priors] (docs/sweeps.md)")
        d = cls()
        for key, value in data.get("fixed", {}).items():
            d.fixed[option_key(key)] = TrainConfig.coerce(option_key(key), value)
        for key, values in data.get("grid", {}).items():
            if not isinstance(values, list):
                raise DeepinitError(f"sweep file {str(path)!r}: grid.{key} must be a list of values, e.g. [0.1, 0.01]")
            d.grid[option_key(key)] = _grid_values(option_key(key), values)
        if "seeds" in data:
            d.seeds = parse_seeds(data["seeds"])
        if "trials" in random:
            if isinstance(random["trials"], bool) or not isinstance(random["trials"], int):
                raise DeepinitError(f"sweep file {str(path)!r}: random.trials must be an integer")
            d.trials = random["trials"]
        d.random_seed = int(random.get("seed", 0))
        for key, spec in random.get("priors", {}).items():
            d.priors[option_key(key)] = Prior.parse(option_key(key), spec)
        d.check()
        return d

    def check(self) -> None:
        """Raise DeepinitError for a definition that cannot expand into distinct cells."""
        both = set(self.grid) & set(self.priors)
        if both:
            raise DeepinitError(f"{sorted(both)} both on the grid and with a prior; sweep each option one way")
        swept = set(self.grid) | set(self.priors)
        fixed_and_swept = swept & set(self.fixed)
        if fixed_and_swept:
            raise DeepinitError(f"{sorted(fixed_and_swept)} both fixed and swept; drop the fixed value or the sweep")
        if self.seeds is not None:
            clash = swept & {"init_seed", "data_seed"} | set(self.fixed) & {"init_seed", "data_seed"}
            if clash:
                raise DeepinitError(f"--seeds sets init_seed and data_seed; do not also give {sorted(clash)}")
        if SEED in swept or SEED in self.fixed:
            raise DeepinitError("give seeds with --seeds (or seeds = \"0-4\" in a sweep file), not as an option")
        if self.trials < 0:
            raise DeepinitError(f"--random must be >= 0 trials, got {self.trials}")
        if self.trials and not self.priors:
            raise DeepinitError("--random N needs at least one --prior, e.g. --prior lr=loguniform:1e-4:1e-1")
        if self.priors and not self.trials:
            raise DeepinitError("--prior needs --random N (the number of random-search trials)")
        if self.seeds == []:
            raise DeepinitError("--seeds is empty; give seeds such as 0-4")

    # ----------------------------------------------------------------- storing
    def to_dict(self) -> dict[str, Any]:
        return {
            "fixed": dict(self.fixed),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "seeds": self.seeds,
            "random": {"trials": self.trials, "seed": self.random_seed,
                       "priors": {k: p.spec() for k, p in self.priors.items()}},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SweepDefinition":
        random = data.get("random", {})
        return cls(
            fixed=dict(data.get("fixed", {})),
            grid={k: list(v) for k, v in data.get("grid", {}).items()},
            seeds=None if data.get("seeds") is None else list(data["seeds"]),
            trials=int(random.get("trials", 0)),
            priors={k: Prior.parse(k, s) for k, s in random.get("priors", {}).items()},
            random_seed=int(random.get("seed", 0)),
        )

    # ----------------------------------------------------------------- expanding
    def swept_keys(self) -> list[str]:
        """The keys of every cell's ``params``, in expansion order."""
        return [*self.priors, *self.grid, *([SEED] if self.seeds is not None else [])]

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order; each configuration validated.

        Raises DeepinitError if a cell's configuration is invalid, or if two
        cells would be the same run.
        """
        import numpy as np

        trials: list[tuple[int | None, dict[str, Any]]] = [(None, {})]
        if self.trials:
            trials = []
            for t in range(self.trials):
                rng = np.random.default_rng([self.random_seed, t])
                trials.append((t, {k: p.sample(rng) for k, p in self.priors.items()}))
        axes = list(self.grid.values())
        seeds: list[int | None] = list(self.seeds) if self.seeds is not None else [None]
        cells: list[Cell] = []
        seen: dict[str, dict] = {}
        for (trial, drawn), values, seed in itertools.product(trials, itertools.product(*axes), seeds):
            params = {**drawn, **dict(zip(self.grid, values))}
            options = {**self.fixed, **params}
            if seed is not None:
                params[SEED] = seed
                options.update(init_seed=seed, data_seed=seed)
            config = TrainConfig.from_dict(options)
            try:
                config.validate()
            except DeepinitError as exc:
                raise DeepinitError(f"cell {_describe(params)}: {exc}") from None
            cell_id = f"{_slug(params, trial)}-{config_hash(config)}"
            if cell_id in seen:
                raise DeepinitError(
                    f"cells {_describe(seen[cell_id])} and {_describe(params)} are the same run; "
                    "remove the duplicate value (or, for random search, widen the priors)")
            seen[cell_id] = params
            cells.append(Cell(len(cells), cell_id, params, config, trial))
        return cells


def config_hash(config: TrainConfig) -> str:
    """12 hex digits of the SHA-256 of the configuration (without data_dir), canonical JSON."""
    data = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_ID}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def shard(cells: list[Cell], k: int, n: int) -> list[Cell]:
    """Shard ``k`` of ``n`` (1-based): every n-th cell, from the k-th.

    The shards are disjoint and together hold every cell exactly once;
    interleaving spreads expensive settings (a deep network, a big width) over
    all shards.
    """
    if not 1 <= k <= n:
        raise DeepinitError(f"shard {k}/{n}: shards are numbered 1 to N, e.g. --shard 1/{max(n, 1)}")
    return [c for c in cells if c.index % n == k - 1]


def _split_assignment(text: str, option: str, example: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise DeepinitError(f"{option} {text!r}: write OPTION=VALUES, e.g. {option} {example}")
    return option_key(key), value.strip()


def _grid_values(key: str, values: list) -> list:
    if key == SEED:
        raise DeepinitError("give seeds with --seeds 0-4 (it sets init_seed and data_seed), not --grid seed=...")
    coerced = [TrainConfig.coerce(key, v.strip() if isinstance(v, str) else v) for v in values]
    if not coerced:
        raise DeepinitError(f"grid axis {key!r} has no values")
    canon = [json.dumps(v) for v in coerced]
    if len(set(canon)) != len(canon):
        raise DeepinitError(f"grid axis {key!r} lists a value twice ({values}); give each value once")
    return coerced


def format_value(value: Any) -> str:
    """A swept value for humans: 0.01, tanh, 1000x500, True."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)


def _describe(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in params.items()) or "(no swept option)"


def _slug(params: dict[str, Any], trial: int | None) -> str:
    """A readable file-name prefix: ``tanh-normalized-lr0.01-seed0``."""
    parts = [] if trial is None else [f"trial{trial:03d}"]
    for key, value in params.items():
        text = format_value(value)
        parts.append(text if isinstance(value, str) else f"{key.replace('_', '')}{text}")
    slug = re.sub(r"[^A-Za-z0-9.+_=-]", "_", "-".join(parts))[:80].strip("-_")
    return slug or "run"
