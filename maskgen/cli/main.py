"""Root command group. Subcommands load lazily, so ``maskgen --help`` never imports torch.

Every MaskgenError becomes one line on stderr and exit code 1, here and only here. Ctrl-C
(SIGINT) and SIGTERM stop every command the same way: the library's clean-up runs (temporary
files removed, workers stopped), then one line (saying how to resume where a command can) and
exit code 130 or 143, the shell's 128 + signal number.
"""

from __future__ import annotations

import atexit
import errno
import functools
import importlib
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from maskgen import __version__, decoder_messages
from maskgen.errors import MaskgenError

logger = logging.getLogger(__name__)

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


RESUME_HINT = "maskgen.resume_hint"
"""``ctx.meta`` key: a command that can be resumed puts there what to tell a user who stopped
it (a string, or a function giving one when it stops)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception. A KeyboardInterrupt, so that every clean-up path Ctrl-C takes
    (temporary files, worker pools) runs for it too."""


class _StopSignals:
    """SIGINT and SIGTERM raise KeyboardInterrupt and Terminated while a command runs, and are
    remembered: a library that catches the interrupt and raises something else in its place
    (torch's ONNX exporter does) still ends as an interrupt.

    Processes forked meanwhile (pool and data-loader workers) inherit the handler; there it
    does what the signal did before (augment's pool workers set their own, which discards the
    part they were writing and exits, see ``maskgen.pipeline.local``). So a SIGTERM to a whole
    process group (SLURM's scancel, a systemd stop, ``kill -- -PGID``) ends the workers at
    once, as it did, and a
    multiprocessing pool whose worker died holding one of the pool's locks hangs when it is
    shut down. Hence, if the clean-up after a SIGTERM takes longer than CLEANUP_LIMIT_S, this
    process says it stopped and exits without finishing it: what is left is what ``kill -9``
    leaves, which ``--resume`` handles.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    CLEANUP_LIMIT_S = 5.0

    def __init__(self, message: Callable[[int], str]) -> None:
        self.received: int | None = None
        self._message = message
        self._pid = os.getpid()
        self._previous: dict[int, Any] = {}
        self._timer: threading.Timer | None = None

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:  # nohup, or a background job's Ctrl-C
                    self._previous[signum] = previous
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            self._as_before(signum, frame)
            return
        if signum == signal.SIGTERM and self._timer is None:
            self._timer = threading.Timer(self.CLEANUP_LIMIT_S, self._give_up, (signum,))
            self._timer.daemon = True
            self._timer.start()
        self.received = signum
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def _give_up(self, signum: int) -> None:
        sys.stderr.write(self._message(signum) + "\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    def _as_before(self, signum: int, frame: FrameType | None) -> None:
        """In a forked worker: what the signal did before the handler was installed."""
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _stop_message(ctx: click.Context, signum: int) -> str:
    hint: str | Callable[[], str] | None = ctx.meta.get(RESUME_HINT)
    if callable(hint):
        hint = hint()
    first = "Stopped by SIGTERM." if signum == signal.SIGTERM else "Interrupted."
    return f"{first} {hint}" if hint else first


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

    def main(self, args: Any = None, *rest: Any, **options: Any) -> Any:
        """As the program (arguments from ``sys.argv``, click's standalone mode): once the
        command is done, exit without tearing the interpreter down (see :func:`_exit_now`).
        Called with arguments (tests, scripts), as click does."""
        if args is not None or rest or not options.get("standalone_mode", True):
            return super().main(args, *rest, **options)
        try:
            super().main(args, **options)
        except SystemExit as stop:
            _exit_now(stop.code)
        _exit_now(0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke_until_stopped(ctx)
        except KeyboardInterrupt as late:  # landed as the handlers were being put back
            signum = signal.SIGTERM if isinstance(late, Terminated) else signal.SIGINT
            click.echo(_stop_message(ctx, signum), err=True)
            ctx.exit(128 + signum)

    def _invoke_until_stopped(self, ctx: click.Context) -> Any:
        """The command under :class:`_StopSignals`: an error becomes one line, a signal its
        stop message and exit code."""
        with _StopSignals(functools.partial(_stop_message, ctx)) as stop:
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as exc:
                signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            except Exception as exc:
                if stop.received is not None:
                    signum = stop.received  # a library turned the interrupt into another error
                elif isinstance(exc, MaskgenError):
                    click.echo(
                        f"Error: {_in_option_words(exc, ctx)}{_room_hint(exc, ctx)}", err=True
                    )
                    ctx.exit(1)
                elif isinstance(exc, OSError) and _refused_by_the_system(exc):
                    logger.debug("the traceback:", exc_info=exc)
                    click.echo(f"Error: {_os_error_words(exc)}{_room_hint(exc, ctx)}", err=True)
                    ctx.exit(1)
                else:
                    raise
        click.echo(_stop_message(ctx, signum), err=True)
        ctx.exit(128 + signum)


_NO_ROOM = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT))
"""The OS's words for a full disk and a full quota, as an error names them (one raised in a
worker process reaches this one as its message alone, without its cause)."""


def _room_hint(exc: Exception, ctx: click.Context) -> str:
    """For a command stopped on a full disk or quota with something to resume, what to do
    once there is room (the line said only "cannot write here (No space left on device)",
    though the finished chunks were kept); else nothing (a run with no checkpoint yet has
    nothing to resume)."""
    hint: str | Callable[[], str] | None = ctx.meta.get(RESUME_HINT)
    if hint is None or not any(words in str(exc) for words in _NO_ROOM):
        return ""
    said = hint() if callable(hint) else hint
    if "--resume" not in said:
        return ""
    return f". Once there is room, {said[:1].lower()}{said[1:]}"


def _refused_by_the_system(exc: OSError) -> bool:
    """An OSError the operating system raised about a path (it carries an errno and a file
    name: a read-only file system, a regular file in a folder's place, a full disk), as
    opposed to one a library raises with a message alone (Pillow's encoder, a DataLoader
    worker's re-raise), which may be a fault of ours and keeps its traceback. A closed pipe
    (``maskgen types | head``) is click's to end quietly."""
    return (
        exc.errno is not None and exc.filename is not None and not isinstance(exc, BrokenPipeError)
    )


def _os_error_words(exc: OSError) -> str:
    """One line for an operating-system error no maskgen check turned into its own (a folder
    made on a read-only file system, an output under a regular file): the path or paths and
    the OS's reason, ``ro_out/.maskgen-parts: Read-only file system``."""
    paths = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{paths}: {exc.strerror or exc}"


def _in_option_words(exc: MaskgenError, ctx: click.Context) -> str:
    """The error's message with each Python parameter it names (``exc.parameters``) in the
    words of the command's own option: ``resume=True`` -> ``--resume``, ``another
    output_dir`` -> ``another --output``, ``scheduler='tcp://x'`` -> ``--scheduler tcp://x``.
    A parameter the command has no option for keeps the library's words, and a path or value
    that holds the same words keeps them (see :func:`_replace_words`)."""
    message = str(exc)
    name = ctx.invoked_subcommand
    command = ctx.command.get_command(ctx, name) if name and exc.parameters else None
    if command is None:
        return message
    options = {p.name: p for p in command.params if isinstance(p, click.Option) and p.opts}
    for words, parameter in exc.parameters.items():
        option = options.get(parameter)
        if option is not None:
            message = _replace_words(message, words, _option_words(option, parameter, words))
    return message


def _replace_words(message: str, words: str, replacement: str) -> str:
    """``message`` with ``words`` replaced where they stand as words of its text: after a
    space or "(" (or first) and before a space or one of ``,;:.)`` (or last), and glued to
    no path separator up to the next space either side. So a path a user gave that holds
    them (``/tmp/overwrite=True/x``, ``/data/another output_dir/``) is printed as given."""

    def replace(match: re.Match[str]) -> str:
        glued = re.split(r"\s", message[: match.start()])[-1]
        glued += re.split(r"\s", message[match.end() :])[0]
        return match.group() if "/" in glued or os.sep in glued else replacement

    return re.sub(rf"(?<![^\s(]){re.escape(words)}(?![^\s,;:.)])", replace, message)


def _option_words(option: click.Option, parameter: str, words: str) -> str:
    """``words`` with the parameter in them as the option: ``name=True`` (or ``name`` alone)
    becomes ``--flag``, ``name='VALUE'`` ``--option VALUE``."""
    flag = max(option.opts, key=len)  # the long form: --output, not -o
    before, equals, value = words.partition(f"{parameter}=")
    if not equals:
        return words.replace(parameter, flag, 1)
    if option.is_flag:
        return before + flag
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return f"{before}{flag} {value}"


def _exit_now(code: int | str | None) -> None:
    """Leave with ``code`` (``sys.exit``'s meaning) after what a normal exit does for the
    user (exit handlers: logs flushed, temporary files removed; stdout and stderr flushed),
    but without freeing every module's objects: with numba loaded that alone takes ~0.25 s
    of CPU (0.5 s wall on this project's VM). Where other threads still run, a normal exit,
    which waits for them."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # what Python runs at exit, before it frees the modules
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a closed pipe: nothing more to say
            code = code or 1
    os._exit(code or 0)


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
    _quiet_decoders(debug=verbose >= 2)


def _quiet_decoders(debug: bool) -> None:
    """Keep the image decoders' own complaints off stderr, unless ``-vv`` asks for them.
    OpenCV logs every file it cannot decode (``[ERROR:0@0.27] global loadsave.cpp:1390
    imdecode_ imdecode_(''): can't read data``) and the TIFF tags it repairs (``[ WARN:0@0.16]
    ... TIFF_Warning TIFFReadDirectory: Sum of Photometric type-related color channels ...``,
    on the 16-bit RGBA TIFFs OpenCV itself writes), and Pillow warns of a truncated TIFF's
    EXIF data (``UserWarning: Corrupt EXIF data``), naming no file: on a run that recorded
    each such file as ``unreadable`` (or masked it) and ended well, they read as its errors.
    OpenCV's level is set in the environment before OpenCV loads (forked workers inherit
    it), and on OpenCV itself if it is loaded already; ``OPENCV_LOG_LEVEL`` set by the user
    is kept. libpng's and libjpeg's own lines (``libpng error: PNG input buffer is
    incomplete``, ``Corrupt JPEG data: ...``) bypass both: they are caught around each decode,
    in any thread of this process and its workers (:mod:`maskgen.decoder_messages`), and each
    command says which file they were about (a manifest
    row's ``decoder_warning``; ``maskgen mask``'s warning). Under ``-vv``, a variable an
    earlier command in this process or a parent ``maskgen`` left is taken away."""
    if debug:
        os.environ.pop(decoder_messages.QUIET_ENV, None)
        return
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    # Pillow's DecompressionBombWarning on a photo of 89-179 megapixels: OpenCV decodes it
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"PIL\.")
    os.environ[decoder_messages.QUIET_ENV] = "1"
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def main() -> None:  # pragma: no cover - console entry point
    cli()


if __name__ == "__main__":  # python -m maskgen.cli.main: the same as python -m maskgen
    cli()
