"""``deepinit train`` (being written)."""

import click


@click.command()
def train() -> None:
    """Train one network and record it in an HDF5 run file."""
    raise click.ClickException("not implemented yet")
