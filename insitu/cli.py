"""The ``insitu`` command line.

Each sub-command lives in its own module under :mod:`insitu.commands` with two
functions: ``add_parser(subparsers)`` and ``run(args) -> int``. Errors a user
can cause (bad options, bad values) end as one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["demo", "fit", "verilog", "train", "sweep", "cosim", "build", "board"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse prints the whole usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="insitu",
        description="Co-design kit for in-situ training of analog crossbars.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"insitu.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"insitu.commands.{name}":
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except ValueError as e:
        print(f"insitu {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"insitu {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
