"""The rich consoles, owned here and nowhere else.

``out`` carries results (tables, JSON) on stdout; ``err`` carries progress,
messages and errors on stderr, so that ``--json`` output stays clean for pipes.
Both resolve sys.stdout / sys.stderr when they print, so Click's CliRunner
captures them.
"""

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


def error_line(message: str) -> None:
    """Print one ``Error: ...`` line on stderr (never wrapped, never markup)."""
    err.print(f"Error: {message}", markup=False, soft_wrap=True, style="bold red")
