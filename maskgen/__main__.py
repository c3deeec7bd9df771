"""``python -m maskgen ...``: the ``maskgen`` command, for environments whose scripts folder is
not on the PATH."""

from maskgen.cli.main import cli

if __name__ == "__main__":
    cli()
