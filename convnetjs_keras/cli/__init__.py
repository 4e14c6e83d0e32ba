"""The ``convnetjs-keras`` command line.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. An error in user input prints ``error: <message>`` (one
line, or a list of problems under a summary line) on stderr; ``-v`` adds the
traceback. Exit statuses: 0 success, 2 usage error (argparse, or a
``UsageError``), 3 invalid input (any other ``ConvNetJSKerasError``), 1 an
internal error (a bug in this tool, or out of memory), 130 interrupted.
Keras and TensorFlow are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback

from convnetjs_keras.errors import ConvNetJSKerasError
from convnetjs_keras.version import __version__

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USAGE_ERROR = 2  # argparse's own code for bad arguments
EXIT_INPUT_ERROR = 3
EXIT_INTERRUPTED = 130

# Subcommand modules, in the order --help lists them.
COMMANDS = ["convert", "export", "inspect", "train", "predict", "visualize", "demo"]


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _CurrentStderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _configure_logging(verbose: bool) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _CurrentStderrHandler)), None)
    if handler is None:
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    level = logging.DEBUG if verbose else logging.INFO
    root.setLevel(level)
    handler.setLevel(level)


@contextlib.contextmanager
def _silence_native_stderr():
    """Send what C++ libraries write to file descriptor 2 (TensorFlow's CUDA
    probing and absl start-up lines) to /dev/null while the command runs;
    Python's ``sys.stderr`` (warnings, errors, progress) keeps the real
    stderr. Does nothing when ``sys.stderr`` is not file descriptor 2 (e.g.
    under pytest's capture)."""
    try:
        if sys.stderr.fileno() != 2:
            raise ValueError("sys.stderr is not file descriptor 2")
        sys.stderr.flush()
        saved_fd = os.dup(2)
        python_stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                                  errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        yield
        return
    original = sys.stderr
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_stderr
    try:
        yield
    finally:
        python_stderr.flush()
        sys.stderr = original
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        python_stderr.close()


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        _quiet_tensorflow()
        lines = [f"convnetjs-keras {__version__}"]
        try:
            with _silence_native_stderr():
                import keras

            lines.append(f"keras {keras.__version__}, backend {keras.backend.backend()}")
        except Exception as error:  # a broken Keras install must not hide our version
            lines.append(f"keras not importable: {error}")
        print("\n".join(lines))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convnetjs-keras",
        description="Translate ConvNetJS networks to Keras 3 and back, train them, and export them again.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show versions of this tool, Keras and its backend")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"convnetjs_keras.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"convnetjs_keras.cli.{name}":
                continue
            raise
        sub = module.add_parser(subparsers)
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks and debug messages")
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits for --help, --version (status 0) and usage errors (status 2).
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE_ERROR
    verbose = getattr(args, "verbose", False)
    _configure_logging(verbose)
    if not verbose:
        _quiet_tensorflow()
    with contextlib.nullcontext() if verbose else _silence_native_stderr():
        return _run_command(parser, args, verbose)


def _run_command(parser, args, verbose: bool) -> int:
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_USAGE_ERROR
    try:
        return args._run(args) or EXIT_OK
    except ConvNetJSKerasError as error:
        if verbose:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK
    except MemoryError:
        if verbose:
            traceback.print_exc()
        print("error: out of memory (run with -v for the traceback).", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    except Exception as error:  # anything else is a bug in this tool
        if verbose:
            traceback.print_exc()
        print(f"internal error: {type(error).__name__}: {error} (run with -v for the traceback and please "
              "report it)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
