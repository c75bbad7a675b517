"""The rich consoles, owned here and nowhere else.

``out`` carries results (tables, JSON) on stdout; ``err`` carries progress,
messages and errors on stderr, so that ``--json`` output stays clean for pipes.
Both resolve sys.stdout / sys.stderr when they print, so Click's CliRunner
captures them.
"""

import os
import sys

from rich.console import Console

# Rich assumes 80 columns when writing to a pipe or a file, which squeezes wide
# tables until values are cut; give pipes room (COLUMNS still wins when set).
_PIPE_WIDTH = 160


def _width(stream) -> int | None:
    if "COLUMNS" in os.environ or stream.isatty():
        return None
    return _PIPE_WIDTH


out = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, width=_width(sys.stderr))


def error_line(message: str) -> None:
    """Print one ``Error: ...`` line on stderr (never wrapped, never markup)."""
    err.print(f"Error: {message}", markup=False, soft_wrap=True, style="bold red")
