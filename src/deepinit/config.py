"""The configuration of one training run: what ``deepinit train`` takes and a run file stores."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .choices import ACTIVATIONS, COSTS, DTYPES, INIT_SCHEMES
from .errors import DeepinitError

# Options whose value is one of a fixed set of names.
_CHOICES = {"activation": ACTIVATIONS, "cost": COSTS, "init": INIT_SCHEMES, "dtype": DTYPES}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in _TRUE + _FALSE:
        return str(value).lower() in _TRUE
    raise ValueError(f"{value!r} is not true or false")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"{value!r} is not an integer")


def _float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a number")


def parse_hidden(value: str | list[int]) -> list[int]:
    """Hidden widths from ``"1000,500"`` or ``"1000x500"`` (or a list of ints)."""
    if isinstance(value, str):
        try:
            sizes = [int(v) for v in value.replace("x", ",").split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{value!r} is not a list of widths such as 1000,500,250") from None
    else:
        sizes = list(value)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"{value!r}: every width must be a positive integer, e.g. 1000,500,250")
    return sizes


def parse_size(value: str | int | float) -> int | float:
    """A split size: a positive count (``5000``) or a fraction in (0, 1) (``0.1``)."""
    size: Any = value
    if isinstance(value, str):
        try:
            size = int(value)
        except ValueError:
            try:
                size = float(value)
            except ValueError:
                pass
    if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
        return size
    if isinstance(size, float) and 0 < size < 1:
        return size
    raise ValueError(f"{value!r} is neither a count (e.g. 5000) nor a fraction in (0, 1) (e.g. 0.1)")


@dataclass
class TrainConfig:
    """Everything that determines a run (with its seeds, the run is reproducible from it).

    The hidden layers are ``hidden`` when given, else ``depth`` layers of ``width``
    units. The budget is ``updates`` minibatch updates, or ``epochs`` passes over
    a finite training set (``epochs`` is refused for streams like Shapeset-3x2).
    """

    dataset: str = "shapeset"
    data_dir: str | None = None
    valid_size: int | float | None = None
    test_size: int | float | None = None
    depth: int = 5
    width: int = 1000
    hidden: list[int] | None = None
    activation: str = "tanh"
    cost: str = "softmax-nll"
    init: str = "normalized"
    init_scale: float = 1.0
    lr: float = 0.01
    batch_size: int = 10
    updates: int | None = None
    epochs: float | None = None
    eval_every: int = 1000
    init_seed: int = 0
    data_seed: int = 0
    dtype: str = "float32"
    # Monitoring (docs/monitoring.md): per-layer statistics on a fixed probe set.
    monitor: bool = True
    monitor_every: int = 2000
    monitor_log_points: int = 8
    probe_size: int = 300
    monitor_bins: int = 100
    saturation_threshold: float = 0.95
    jacobian_examples: int = 2
    jacobian_every: int = 20_000

    DEFAULT_UPDATES = 10_000

    def hidden_sizes(self) -> list[int]:
        """The resolved hidden-layer widths."""
        if self.hidden is not None:
            return list(self.hidden)
        return [self.width] * self.depth

    def validate(self) -> None:
        """Raise DeepinitError for values no dataset or network could accept."""
        if self.hidden is None and self.depth < 0:
            raise DeepinitError(f"--depth must be >= 0, got {self.depth}")
        sizes = self.hidden_sizes()
        if any(n < 1 for n in sizes):
            raise DeepinitError(f"hidden layer widths must be >= 1, got {sizes}; fix --width or --hidden")
        if not self.lr > 0:
            raise DeepinitError(f"--lr must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise DeepinitError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.eval_every < 1:
            raise DeepinitError(f"--eval-every must be >= 1, got {self.eval_every}")
        if self.updates is not None and self.epochs is not None:
            raise DeepinitError("give --updates or --epochs, not both")
        if self.updates is not None and self.updates < 0:
            raise DeepinitError(f"--updates must be >= 0, got {self.updates}")
        if self.epochs is not None and not self.epochs > 0:
            raise DeepinitError(f"--epochs must be positive, got {self.epochs}")
        if not self.init_scale > 0:
            raise DeepinitError(f"--init-scale must be positive, got {self.init_scale}")
        if self.monitor:
            from .monitor import MonitorConfig

            MonitorConfig.from_train_config(self).validate()

    def total_updates(self, n_train: int | None) -> int:
        """The budget in minibatch updates, for a training set of n_train (None: a stream)."""
        if self.epochs is not None:
            if n_train is None:
                raise DeepinitError(
                    f"--epochs needs a finite training set, but {self.dataset!r} is an infinite "
                    "stream (online learning); give --updates instead"
                )
            return max(1, round(self.epochs * n_train / self.batch_size))
        return self.DEFAULT_UPDATES if self.updates is None else self.updates

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def coerce(cls, key: str, value: Any) -> Any:
        """``value`` as the type of option ``key``, from a string or a plain TOML/JSON value.

        Sweeps use this for values given on the command line, in TOML files and
        drawn from priors. Range checks are left to :meth:`validate`.

        Raises
        ------
        DeepinitError
            Unknown key, or a value that cannot be of the option's type.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if key not in fields:
            raise DeepinitError(f"unknown option {key!r}; valid options: {', '.join(sorted(fields))}")
        kind = fields[key].type
        try:
            if key == "hidden":
                return parse_hidden(value)
            if key in ("valid_size", "test_size"):
                return parse_size(value)
            if key in _CHOICES:
                if value not in _CHOICES[key]:
                    raise ValueError(f"{value!r} is not one of {', '.join(_CHOICES[key])}")
                return value
            base = kind.split(" | ")[0]
            if base == "bool":
                return _bool(value)
            if base == "int":
                return _int(value)
            if base == "float":
                return _float(value)
            return str(value)
        except ValueError as exc:
            raise DeepinitError(f"option {key!r}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DeepinitError(f"unknown configuration keys {unknown}; valid keys: {sorted(known)}")
        return cls(**data)
