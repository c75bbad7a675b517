"""``deepinit stats`` (being written)."""

import click


@click.command()
def stats() -> None:
    """Summarize run files."""
    raise click.ClickException("not implemented yet")
