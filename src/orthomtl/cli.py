"""The ``orthomtl`` command.

orthomtl run CONFIG.yaml [section.key=value ...]
orthomtl resume RUN_DIR [--checkpoint last.ckpt]
orthomtl compare RUN_DIR [RUN_DIR ...] [--split test]
orthomtl datasets
orthomtl methods
"""

import argparse
import sys
from collections.abc import Sequence

from orthomtl.api import RunResult, resume, run
from orthomtl.config import ConfigError
from orthomtl.diagnostics import compare
from orthomtl.engine import CheckpointError
from orthomtl.registry import DATASETS, METHODS


def _print_result(result: RunResult) -> None:
    if result.rank != 0:
        return
    print()
    print(result.table())
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orthomtl", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train a config (one run directory per seed)")
    run_parser.add_argument("config", help="YAML config file")
    run_parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=0.01")
    resume_parser = commands.add_parser("resume", help="continue an interrupted run")
    resume_parser.add_argument("run_dir")
    resume_parser.add_argument(
        "--checkpoint", default="last.ckpt", help="file in RUN_DIR/checkpoints"
    )
    compare_parser = commands.add_parser("compare", help="a table of finished runs, side by side")
    compare_parser.add_argument("run_dirs", nargs="+")
    compare_parser.add_argument("--split", default="test", choices=["val", "test"])
    commands.add_parser("datasets", help="list datasets, their tasks and factors")
    commands.add_parser("methods", help="list methods")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            _print_result(run(args.config, args.overrides))
        elif args.command == "resume":
            _print_result(resume(args.run_dir, args.checkpoint))
        elif args.command == "compare":
            print(compare(args.run_dirs, args.split))
        elif args.command == "datasets":
            _datasets()
        else:
            _methods()
    except (
        ConfigError,
        CheckpointError,
        FileNotFoundError,
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
