"""The command line. The one place that catches PerfwatchError and maps it to an exit code.

Exit codes: 0 success; 1 a regression was found (--fail-on-regression); 2 bad usage or
configuration (nothing run, nothing written); 3 some cases failed (their status is stored);
130 interrupted. Commands live in perfwatch/commands/, one module per command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from perfwatch import __version__
from perfwatch.domain.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PerfwatchError

# One module per command, named after it (import_: `import` is a keyword), in `perfwatch --help` order.
COMMAND_MODULES = (
    "perfwatch.commands.run",
    "perfwatch.commands.ab",
    "perfwatch.commands.suites",
    "perfwatch.commands.env",
    "perfwatch.commands.runs",
    "perfwatch.commands.export",
    "perfwatch.commands.db",
    "perfwatch.commands.push",
    "perfwatch.commands.dashboard",
    "perfwatch.commands.demo_data",
    "perfwatch.commands.notify",
    "perfwatch.commands.detect",
    "perfwatch.commands.compare",
    "perfwatch.commands.regressions",
    "perfwatch.commands.report",
    "perfwatch.commands.import_",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perfwatch", description="Catch performance regressions in PyTorch workloads.")
    parser.add_argument("--version", action="version", version=f"perfwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _terminate_as_interrupt():
    """SIGTERM (a CI runner cancelling the job, `timeout`, systemd) ends a command as Ctrl-C does:
    the finished cases stored, the worker killed, the run closed as interrupted, exit 130 — not a
    run left `running` with its worker orphaned."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None  # only the main thread may set handlers (a test calling main() from a thread)

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)  # the handler before, put back when the command ends


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    before = _terminate_as_interrupt()
    try:
        return args.handler(args)
    except PerfwatchError as exc:
        print(f"perfwatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("perfwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`perfwatch regressions | head`): what it wanted is printed; no
        # traceback, and stdout pointed at devnull so the interpreter's exit flush fails no more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        if before is not None:
            import signal

            signal.signal(signal.SIGTERM, before)
