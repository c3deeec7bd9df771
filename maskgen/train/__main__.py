"""``python -m maskgen.train ARGS`` = ``maskgen train ARGS``; the form ``torchrun`` launches:
``torchrun --nproc-per-node 8 -m maskgen.train --data ... --output RUN``."""

from __future__ import annotations

import sys

from maskgen.cli.main import cli


def main() -> None:
    cli.main(args=["train", *sys.argv[1:]], prog_name="maskgen")


if __name__ == "__main__":
    main()
