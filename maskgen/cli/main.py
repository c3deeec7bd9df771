"""Root command group. Subcommands load lazily, so ``maskgen --help`` never imports torch.

Every MaskgenError becomes one line on stderr and exit code 1, here and only here.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from maskgen import __version__
from maskgen.errors import MaskgenError

# command name -> "module:function"; adding a command is adding a line here and a module.
COMMANDS: dict[str, str] = {
    "mask": "maskgen.cli.mask:mask",
    "augment": "maskgen.cli.augment:augment",
    "preview": "maskgen.cli.preview:preview",
    "demo": "maskgen.cli.demo:demo",
    "types": "maskgen.cli.types:types",
    "align": "maskgen.cli.align:align",
    "index": "maskgen.cli.index:index",
    "merge": "maskgen.cli.merge:merge",
    "train": "maskgen.cli.train:train",
    "eval": "maskgen.cli.eval:eval_command",
    "export": "maskgen.cli.export:export",
    "embed": "maskgen.cli.embed:embed",
    "verify": "maskgen.cli.embed:verify",
}


class LazyGroup(click.Group):
    """A group whose commands are imported only when invoked or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._importable(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    @staticmethod
    def _importable(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MaskgenError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="maskgen")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Masked twins of face datasets, and Multi-Task ArcFace training on them.

    Example: maskgen augment ms1mv2/train.rec -o ms1mv2_masked/
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    log_format = "%(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, stream=sys.stderr, format=log_format)


def main() -> None:  # pragma: no cover - console entry point
    cli()
