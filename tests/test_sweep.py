"""Sweep definitions, cells, shards and aggregation (no training here: see test_sweep_run.py)."""

import itertools
import math
import statistics

import numpy as np
import pytest

from deepinit.config import TrainConfig
from deepinit.errors import DeepinitError
from deepinit.runfile import RunWriter
from deepinit.sweep.aggregate import best_of_n, best_table, load_results, trials_curve
from deepinit.sweep.definition import Prior, SweepDefinition, config_hash, parse_seeds, shard
from deepinit.sweep.manifest import SweepDir


def grid_definition(**fixed):
    return SweepDefinition.from_options(
        fixed={"updates": 100, **fixed},
        grid=["activation=sigmoid,tanh,softsign", "init=standard,normalized", "lr=0.1,0.03,0.01"],
        seeds="0-4",
    )


# --------------------------------------------------------------------------- #
# Expansion
# --------------------------------------------------------------------------- #

def test_grid_expands_to_the_product_in_order_with_seeds_innermost():
    cells = grid_definition().cells()
    assert len(cells) == 3 * 2 * 3 * 5
    assert [c.index for c in cells] == list(range(90))
    expected = list(itertools.product(["sigmoid", "tanh", "softsign"], ["standard", "normalized"],
                                      [0.1, 0.03, 0.01], range(5)))
    assert [(c.params["activation"], c.params["init"], c.params["lr"], c.params["seed"]) for c in cells] == expected
    c = cells[37]
    assert (c.config.activation, c.config.init, c.config.lr) == (c.params["activation"], c.params["init"], c.params["lr"])
    assert c.config.init_seed == c.config.data_seed == c.params["seed"]
    assert c.config.updates == 100 and c.config.depth == TrainConfig().depth
    assert len({c.id for c in cells}) == 90 and len({c.file for c in cells}) == 90


def test_cell_ids_depend_on_the_full_config_only():
    a, b = grid_definition().cells(), grid_definition().cells()
    assert [c.id for c in a] == [c.id for c in b]
    # The hash part is the config's: another fixed option changes every id...
    changed = grid_definition(depth=3).cells()
    assert all(x.id.rsplit("-", 1)[1] != y.id.rsplit("-", 1)[1] for x, y in zip(a, changed))
    # ... where the data lives does not.
    moved = grid_definition(data_dir="/somewhere/else").cells()
    assert [c.id for c in moved] == [c.id for c in a]
    assert a[0].id.endswith(config_hash(a[0].config))
    assert a[0].id.startswith("sigmoid-standard-lr0.1-seed0-")


def test_values_are_typed_as_the_train_options():
    d = SweepDefinition.from_options(fixed={"updates": "50"}, grid=["depth=1,3", "hidden=20x10,30", "monitor=no,yes"])
    cells = d.cells()
    assert d.fixed == {"updates": 50}
    assert d.grid == {"depth": [1, 3], "hidden": [[20, 10], [30]], "monitor": [False, True]}
    assert all(isinstance(c.config.depth, int) for c in cells)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"grid": ["lr=0.1,0.1"]}, "twice"),
        ({"grid": ["lr"]}, "OPTION=VALUES"),
        ({"grid": ["bogus=1,2"]}, "unknown option 'bogus'"),
        ({"grid": ["activation=tanh,swish"]}, "swish"),
        ({"grid": ["lr=-1,0.1"]}, "--lr must be positive"),
        ({"grid": ["lr=0.1"], "fixed": {"lr": 0.2}}, "both fixed and swept"),
        ({"grid": ["init_seed=0,1"], "seeds": "0-1"}, "--seeds"),
        ({"grid": ["lr=0.1"], "priors": ["lr=uniform:0:1"], "trials": 2}, "both on the grid"),
        ({"trials": 3}, "--prior"),
        ({"priors": ["lr=uniform:0:1"]}, "--random"),
        ({"seeds": "4-2"}, "0-4"),
        ({"seeds": "0,1,1"}, "twice"),
        ({"priors": ["lr=gaussian:0:1"], "trials": 2}, "loguniform"),
        ({"priors": ["lr=loguniform:0:1"], "trials": 2}, "positive"),
        ({"priors": ["depth=int:1.5:3"], "trials": 2}, "integers"),
    ],
)
def test_bad_definitions_are_one_line_errors(kwargs, fragment):
    with pytest.raises(DeepinitError, match=None) as info:
        SweepDefinition.from_options(**kwargs).cells()
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0-2,10") == [0, 1, 2, 10]
    assert parse_seeds("7") == [7] and parse_seeds(3) == [3] and parse_seeds([1, 2]) == [1, 2]


def test_random_trials_are_reproducible_in_bounds_and_prefix_stable():
    def make(trials, seed=0):
        return SweepDefinition.from_options(
            trials=trials, random_seed=seed,
            priors=["lr=loguniform:1e-4:1e-1", "depth=int:1:5", "width=logint:10:1000",
                    "activation=choice:tanh,softsign", "init_scale=uniform:0.5:2"],
        ).cells()

    few, more = make(20), make(30)
    assert [c.params for c in few] == [c.params for c in more[:20]]
    assert [c.id for c in few] == [c.id for c in make(20)]
    assert [c.params for c in make(20, seed=1)] != [c.params for c in few]
    for c in more:
        p = c.params
        assert 1e-4 <= p["lr"] < 1e-1 and isinstance(p["lr"], float)
        assert p["depth"] in range(1, 6) and isinstance(p["depth"], int)
        assert 10 <= p["width"] <= 1000 and isinstance(p["width"], int)
        assert p["activation"] in ("tanh", "softsign")
        assert 0.5 <= p["init_scale"] < 2
        assert c.trial == c.index and c.id.startswith(f"trial{c.index:03d}-")
    # Log-uniform: about as many draws per decade (400 draws, 3 decades).
    lrs = np.array([Prior.parse("lr", "loguniform:1e-4:1e-1").sample(np.random.default_rng([0, t])) for t in range(400)])
    per_decade = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0]
    assert per_decade.min() > 100


def test_random_search_crossed_with_a_grid_and_seeds():
    d = SweepDefinition.from_options(trials=4, priors=["lr=loguniform:1e-3:1e-1"], grid=["activation=tanh,softsign"],
                                     seeds="0-2")
    cells = d.cells()
    assert len(cells) == 4 * 2 * 3
    assert d.swept_keys() == ["lr", "activation", "seed"]
    for t in range(4):  # one lr per trial, shared by its grid cells and seeds
        assert len({c.params["lr"] for c in cells if c.trial == t}) == 1


def test_toml_file_and_command_line_override(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'seeds = "0-2"\n'
        "[fixed]\nupdates = 2000\ndepth = 3\n"
        '[grid]\nactivation = ["tanh", "softsign"]\nlr = [0.1, 0.01]\n'
    )
    d = SweepDefinition.from_toml(path)
    assert d.fixed == {"updates": 2000, "depth": 3} and d.seeds == [0, 1, 2]
    assert d.grid == {"activation": ["tanh", "softsign"], "lr": [0.1, 0.01]}
    over = SweepDefinition.from_options(d, fixed={"updates": 500}, grid=["lr=0.3"], seeds="0")
    assert over.fixed == {"updates": 500, "depth": 3} and over.grid["lr"] == [0.3] and over.seeds == [0]
    assert len(over.cells()) == 2
    random = tmp_path / "random.toml"
    random.write_text('[random]\ntrials = 5\nseed = 3\n[random.priors]\nlr = "loguniform:1e-4:1e-1"\n')
    r = SweepDefinition.from_toml(random)
    assert (r.trials, r.random_seed, r.priors["lr"].spec()) == (5, 3, "loguniform:0.0001:0.1")
    assert SweepDefinition.from_dict(r.to_dict()).to_dict() == r.to_dict()
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nlr = 0.1\n[extra]\n")
    with pytest.raises(DeepinitError, match="unknown entries"):
        SweepDefinition.from_toml(bad)
    bad.write_text("[grid\n")
    with pytest.raises(DeepinitError, match="TOML"):
        SweepDefinition.from_toml(bad)


# --------------------------------------------------------------------------- #
# Shards
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("n", [1, 2, 3, 7, 90, 100])
def test_shards_are_disjoint_and_cover_the_sweep(n):
    cells = grid_definition().cells()
    shards = [shard(cells, k, n) for k in range(1, n + 1)]
    ids = [c.id for s in shards for c in s]
    assert sorted(ids) == sorted(c.id for c in cells) and len(ids) == len(set(ids))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def test_shard_numbers_are_checked():
    cells = grid_definition().cells()
    for k, n in [(0, 4), (5, 4)]:
        with pytest.raises(DeepinitError, match="numbered 1 to N"):
            shard(cells, k, n)


def test_slurm_array_variables_give_the_shard(monkeypatch):
    from deepinit.cli.sweep import _slurm_shard

    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "10")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    assert _slurm_shard() == (3, 4)
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MAX", "15")
    assert _slurm_shard() == (3, 6)
    monkeypatch.setenv("SLURM_ARRAY_TASK_STEP", "2")
    with pytest.raises(DeepinitError, match="step"):
        _slurm_shard()


# --------------------------------------------------------------------------- #
# Manifest
# --------------------------------------------------------------------------- #

def test_manifest_refuses_a_changed_definition_unless_redefined(tmp_path):
    d = grid_definition()
    sweep = SweepDir(tmp_path / "s")
    sweep.prepare(d, d.cells())
    sweep.prepare(d, d.cells())  # the same sweep: fine
    first = d.cells()[0]
    assert sweep.claim(first.id)[0] is not None
    sweep.finish(first.id, "completed", None, {"best_valid_error": 0.5})
    other = SweepDefinition.from_options(d, grid=["lr=0.1,0.03"])
    with pytest.raises(DeepinitError, match=r"different definition \(grid lr: \[0.1, 0.03, 0.01\] -> \[0.1, 0.03\]\)"):
        sweep.prepare(other, other.cells())
    sweep.prepare(other, other.cells(), redefine=True)
    cells = sweep.read()["cells"]
    assert len(cells) == 60 and cells[first.id]["status"] == "completed"


def test_claims(tmp_path):
    d = grid_definition()
    sweep = SweepDir(tmp_path / "s")
    sweep.prepare(d, d.cells())
    cid = d.cells()[0].id
    entry, why = sweep.claim(cid)
    assert why == "" and entry["status"] == "running" and entry["attempts"] == 1
    assert sweep.claim(cid) == (None, "running")      # this process is alive: not stale
    sweep.finish(cid, "failed", "boom", None)
    assert sweep.claim(cid) == (None, "failed")
    assert sweep.claim(cid, retry_failed=True)[0]["attempts"] == 2
    # A claim by a process that is gone is stale: the cell runs again.
    with sweep._update() as data:
        data["cells"][cid]["pid"] = 2 ** 22 + 12345
    assert sweep.claim(cid)[0]["attempts"] == 3
    # Another host's claim is left alone, unless reclaimed.
    with sweep._update() as data:
        data["cells"][cid]["host"] = "elsewhere"
    assert sweep.claim(cid) == (None, "running")
    assert sweep.claim(cid, reclaim=True)[0]["attempts"] == 4


def test_a_non_empty_directory_is_not_taken_over(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    d = grid_definition()
    with pytest.raises(DeepinitError, match="not empty"):
        SweepDir(tmp_path).prepare(d, d.cells())
    assert (tmp_path / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- #
# Aggregation against a hand computation
# --------------------------------------------------------------------------- #

def fake_sweep(tmp_path, definition, valid_test):
    """A sweep whose run files hold given curves: valid_test(cell) -> (status, [(valid, test), ...])."""
    sweep = SweepDir(tmp_path / "sweep")
    cells = definition.cells()
    sweep.prepare(definition, cells)
    for cell in cells:
        spec = valid_test(cell)
        if spec is None:
            continue
        status, points = spec
        w = RunWriter(path=sweep.path / cell.file, config=cell.config.to_dict(), dataset={}, network={}, runtime={})
        for k, (v, t) in enumerate(points):
            w.add_point(update=100 * k, examples=1000 * k, wall_time=float(k), train_cost=1.0, train_error=0.5,
                        valid_cost=1.0, valid_error=v, test_cost=1.0, test_error=t)
        w.status = status
        w.write([], [])
        sweep.claim(cell.id)
        sweep.finish(cell.id, status, None, None)
    return sweep


def test_table_matches_a_hand_computation(tmp_path):
    d = SweepDefinition.from_options(grid=["activation=tanh,softsign", "lr=0.1,0.01"], seeds="0-2")
    # Final (valid, test) per (activation, lr, seed); a first curve point is worse.
    final = {
        ("tanh", 0.1, 0): (0.30, 0.31), ("tanh", 0.1, 1): (0.20, 0.22), ("tanh", 0.1, 2): (0.25, 0.27),
        ("tanh", 0.01, 0): (0.10, 0.12), ("tanh", 0.01, 1): (0.40, 0.41), ("tanh", 0.01, 2): (0.30, 0.29),
        ("softsign", 0.1, 0): None, ("softsign", 0.1, 1): (0.05, 0.06), ("softsign", 0.1, 2): (0.07, 0.08),
        ("softsign", 0.01, 0): (0.50, 0.52), ("softsign", 0.01, 1): (0.45, 0.44), ("softsign", 0.01, 2): (0.48, 0.47),
    }

    def curves(cell):
        p = cell.params
        vt = final[(p["activation"], p["lr"], p["seed"])]
        if vt is None:
            return "diverged", [(0.9, 0.9), (math.nan, math.nan)]
        return "completed", [(0.9, 0.9), vt]

    sweep = fake_sweep(tmp_path, d, curves)
    definition, results = load_results(sweep)
    rows = best_table(definition, results, by=["activation"])
    # tanh: mean valid over seeds = 0.25 at lr 0.1 and 0.2667 at lr 0.01 -> lr 0.1, tests 0.31, 0.22, 0.27.
    tanh, softsign = rows
    assert tanh["activation"] == "tanh" and tanh["selected"] == {"lr": 0.1}
    assert tanh["valid_error"] == pytest.approx(0.25)
    assert tanh["test_error_mean"] == pytest.approx((0.31 + 0.22 + 0.27) / 3)
    assert tanh["test_error_std"] == pytest.approx(statistics.stdev([0.31, 0.22, 0.27]))
    assert (tanh["n_seeds"], tanh["n_expected"], tanh["settings"], tanh["unfinished"]) == (3, 3, 2, 0)
    # softsign: lr 0.1 has a diverged seed (infinitely bad on average) -> lr 0.01.
    assert softsign["selected"] == {"lr": 0.01}
    assert softsign["valid_error"] == pytest.approx((0.50 + 0.45 + 0.48) / 3)
    assert softsign["test_error_mean"] == pytest.approx((0.52 + 0.44 + 0.47) / 3)
    # Errors at the end rather than at the best validation point: here the same (the last point is best).
    assert best_table(definition, load_results(sweep, "final")[1], by=["activation"])[0] == tanh
    # The whole sweep as one row: the best (activation, lr) pair.
    (row,) = best_table(definition, results, by=[], select=["activation", "lr"])
    assert row["selected"] == {"activation": "tanh", "lr": 0.1}
    with pytest.raises(DeepinitError, match="neither grouped"):
        best_table(definition, results, by=[], select=["lr"])


def test_unfinished_cells_are_counted_not_used(tmp_path):
    d = SweepDefinition.from_options(grid=["lr=0.1,0.01"], seeds="0-1")
    sweep = fake_sweep(tmp_path, d, lambda c: None if c.params == {"lr": 0.01, "seed": 1} else
                       ("completed", [(0.2 if c.params["lr"] == 0.01 else 0.3, 0.25)]))
    (row,) = best_table(*load_results(sweep), by=[])
    assert row["selected"] == {"lr": 0.01} and row["n_seeds"] == 1 and row["unfinished"] == 1
    assert math.isnan(row["test_error_std"])


def test_best_of_n_matches_brute_force_over_subsets():
    errors = [0.31, 0.12, 0.5, 0.12, 0.27, 0.9]
    curve = best_of_n(errors)
    for n in range(1, len(errors) + 1):
        mins = [min(s) for s in itertools.combinations(errors, n)]
        assert curve["mean"][n - 1] == pytest.approx(np.mean(mins))
        assert curve["std"][n - 1] == pytest.approx(np.std(mins))
    assert curve["first"].tolist() == [0.31, 0.12, 0.12, 0.12, 0.12, 0.12]
    assert curve["mean"][-1] == pytest.approx(0.12) and curve["std"][-1] == pytest.approx(0.0, abs=1e-12)


def test_trials_curve_averages_seeds_per_trial(tmp_path):
    d = SweepDefinition.from_options(trials=5, priors=["lr=loguniform:1e-3:1e-1"], seeds="0-1")
    err = {(t, s): 0.1 * (t + 1) + 0.02 * s for t in range(5) for s in range(2)}
    sweep = fake_sweep(tmp_path, d, lambda c: ("completed", [(err[(c.trial, c.params["seed"])], 0.5)]))
    definition, results = load_results(sweep)
    (curve,) = trials_curve(definition, results, by=[])
    per_trial = [0.1 * (t + 1) + 0.01 for t in range(5)]
    assert curve["trials"] == 5
    assert curve["mean"] == pytest.approx(best_of_n(per_trial)["mean"].tolist())
    assert curve["first"] == pytest.approx(per_trial[:1] * 5)
    with pytest.raises(DeepinitError, match="not a random search"):
        trials_curve(SweepDefinition.from_options(grid=["lr=0.1"]), results, by=[])
