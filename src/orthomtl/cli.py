"""The ``orthomtl`` command.

orthomtl run CONFIG.yaml [section.key=value ...]
orthomtl run NAME [section.key=value ...]    (a shipped config, e.g. demo; see `orthomtl configs`)
orthomtl resume RUN_DIR [--checkpoint last.ckpt]
orthomtl compare RUN_DIR [RUN_DIR ...] [--split test]
orthomtl report RUN_DIR [RUN_DIR ...] [-o DIR] [--threshold NAME=VALUE ...]   (report.html, .md)
orthomtl discover RUN_DIR [key=value ...] [--out DIR]   (Detaux's discovery again)
orthomtl configs
orthomtl datasets
orthomtl methods

Exit status: 0 on success, 2 for a bad command line, config, checkpoint or run directory, and
141 when the reader of the output goes away early (``orthomtl datasets | head -2``).
"""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from orthomtl.api import RunResult, resume, run
from orthomtl.config import ConfigError, shipped_configs
from orthomtl.diagnostics import Thresholds, compare, write_report
from orthomtl.engine import CheckpointError
from orthomtl.methods.detaux import discover_from_run
from orthomtl.registry import DATASETS, METHODS

# What a shell reports for a process killed by SIGPIPE (128 + 13), as for `yes | head -1`: the
# output was cut short by its reader, which `set -o pipefail` scripts can tell from success.
EXIT_BROKEN_PIPE = 141


def _print_result(result: RunResult) -> None:
    if result.rank != 0:
        return
    print()
    print(result.table())
    if compared := result.compared_run_dirs:
        print()
        print(compare([*result.run_dirs, *compared]))
    for seed_run in result.runs:
        print(f"run directory (seed {seed_run.seed}): {seed_run.run_dir}")


def _datasets() -> None:
    for name in DATASETS:
        info = DATASETS.get(name)
        print(f"{name}: {info.summary}")
        print(f"  tasks:   {info.tasks}")
        if info.factors:
            print(f"  factors: {', '.join(info.factors)}")
        if info.needs_path:
            print(f"  data.path required; source: {info.source}")
        for option, doc in info.options.items():
            print(f"  data.{option}: {doc}")


def _methods() -> None:
    for name in METHODS:
        print(f"{name}: {METHODS.get(name).summary}")


def _description(path: os.PathLike[str]) -> str:
    """The first comment line of a config file, without its ``#``."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.lstrip().startswith("#"):
                return line.strip().lstrip("#").strip()
    return ""


def _configs() -> None:
    for name, path in shipped_configs().items():
        print(f"{name}: {_description(path)}")


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments as a dict, each value read as YAML (``10``, ``kmeans``, ``null``)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"Options are key=value, e.g. clusterer=kmeans; got {pair!r}.")
        options[key] = yaml.safe_load(value)
    return options


def _report(run_dirs: Sequence[str], output: str | None, thresholds: Sequence[str]) -> None:
    paths = write_report(run_dirs, output, Thresholds.parse(thresholds))
    print(f"report: {paths.html}")
    print(f"        {paths.markdown} (images in {paths.files})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orthomtl", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train a config (one run directory per seed)")
    run_parser.add_argument(
        "config", help="YAML config file, or the name of a shipped config (orthomtl configs)"
    )
    run_parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.01")
    resume_parser = commands.add_parser("resume", help="continue an interrupted run")
    resume_parser.add_argument("run_dir")
    resume_parser.add_argument(
        "--checkpoint", default="last.ckpt", help="file in RUN_DIR/checkpoints"
    )
    compare_parser = commands.add_parser("compare", help="a table of finished runs, side by side")
    compare_parser.add_argument("run_dirs", nargs="+")
    compare_parser.add_argument("--split", default="test", choices=["val", "test"])
    report_parser = commands.add_parser(
        "report", help="report.html and report.md: tables, curves, diagnostics, a diagnosis"
    )
    report_parser.add_argument("run_dirs", nargs="+")
    report_parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="directory to write into (default: RUN_DIR for one run, ./report for several)",
    )
    report_parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a diagnosis threshold, repeatable; names: {', '.join(Thresholds.names())}",
    )
    discover_parser = commands.add_parser(
        "discover", help="Detaux: discover auxiliary tasks again from a run's trained autoencoder"
    )
    discover_parser.add_argument("run_dir")
    discover_parser.add_argument("--out", default=None, help="default: RUN_DIR/discovery")
    discover_parser.add_argument(
        "options", nargs="*", help="discovery options, e.g. clusterer=kmeans n_clusters=10"
    )
    commands.add_parser("configs", help="list the shipped configs, for orthomtl run NAME")
    commands.add_parser("datasets", help="list datasets, their tasks and factors")
    commands.add_parser("methods", help="list methods")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            _print_result(run(args.config, args.overrides))
        elif args.command == "resume":
            _print_result(resume(args.run_dir, args.checkpoint))
        elif args.command == "discover":
            print(discover_from_run(args.run_dir, args.out, _options(args.options)))
        elif args.command == "compare":
            print(compare(args.run_dirs, args.split))
        elif args.command == "report":
            _report(args.run_dirs, args.output, args.threshold)
        elif args.command == "configs":
            _configs()
        elif args.command == "datasets":
            _datasets()
        else:
            _methods()
        sys.stdout.flush()  # here, so that a closed pipe is caught below, not at exit
    except BrokenPipeError:
        # As the Python docs recommend (library/signal.html, "Note on SIGPIPE"): point stdout at
        # devnull so that flushing it again at exit cannot fail, then exit quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass  # a stdout without a file descriptor (replaced in-process): nothing to redirect
        return EXIT_BROKEN_PIPE
    except (
        ConfigError,
        CheckpointError,
        FileNotFoundError,
        FileExistsError,
        KeyError,
        ValueError,
        ImportError,
    ) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"orthomtl: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
