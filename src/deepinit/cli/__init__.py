"""The ``deepinit`` command: a Click group with one module per sub-command.

Sub-command modules import only click at module level; numpy, h5py and the
kernels are imported inside the command bodies so that ``deepinit --help`` is
instant.
"""

from __future__ import annotations

import sys

import click

from .._version import __version__
from ..errors import DeepinitError
from ._console import error_line


class DeepinitGroup(click.Group):
    """A group whose errors are one line on stderr, exit 2, never a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name or "deepinit", complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            error_line(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            error_line(exc.format_message())
            sys.exit(exc.exit_code)
        except DeepinitError as exc:
            error_line(str(exc))
            sys.exit(2)
        except (click.Abort, KeyboardInterrupt):
            error_line("interrupted")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=DeepinitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deepinit")
def cli() -> None:
    """Train deep feedforward networks and see why they train well or badly.

    Runs are HDF5 files: learning curves, per-layer statistics, parameters.
    """


def _register() -> None:
    from .data import data
    from .plot import plot
    from .stats import stats
    from .sweep import sweep
    from .train import train

    cli.add_command(train)
    cli.add_command(sweep)
    cli.add_command(stats)
    cli.add_command(data)
    cli.add_command(plot)


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
