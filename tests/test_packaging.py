"""What a user of the installed package sees: shipped configs by name, `orthomtl configs`, the
package metadata, and a CLI that ends quietly when its output pipe is closed early."""

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orthomtl.cli import EXIT_BROKEN_PIPE, main
from orthomtl.config import ConfigError, load_config, shipped_configs
from tests.conftest import SUBPROCESS_ENV

ROOT = Path(__file__).parents[1]
PACKAGE_CONFIGS = ROOT / "src" / "orthomtl" / "configs"


def test_shipped_configs_are_the_package_configs() -> None:
    shipped = shipped_configs()
    assert {"demo", "de_rotated_digits"} <= set(shipped)
    assert list(shipped) == sorted(shipped)
    assert {path.name for path in shipped.values()} == {
        path.name for path in PACKAGE_CONFIGS.glob("*.yaml")
    }


def test_every_shipped_config_validates() -> None:
    for name, path in shipped_configs().items():
        assert path.is_file(), name
        try:
            load_config(name)
        except ConfigError as error:  # a config for the user's own file: give it one
            assert "data.path" in str(error), name
            load_config(name, ["data.path=my.csv"])


def test_pyproject_ships_every_config_and_declares_an_spdx_license() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["orthomtl"]
    files = [
        path.relative_to(PACKAGE_CONFIGS.parent).as_posix() for path in PACKAGE_CONFIGS.glob("*")
    ]
    assert files
    for file in files:
        assert any(fnmatch.fnmatch(file, pattern) for pattern in globs), file
    assert pyproject["project"]["license"] == "MIT"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


def test_cli_lists_shipped_configs_with_their_first_comment_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split(":", 1)[0] for line in lines]
    assert {"demo", "de_rotated_digits"} <= set(names)
    first_comment = (PACKAGE_CONFIGS / "demo.yaml").read_text().splitlines()[0]
    assert first_comment.startswith("# ")
    assert f"demo: {first_comment[2:]}" in lines
    assert all(": " in line and not line.endswith(": ") for line in lines)


@pytest.mark.parametrize("name", ["demo", "demo.yaml", "de_rotated_digits"])
def test_a_shipped_name_loads_the_same_config_as_its_file(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no file of that name here
    path = PACKAGE_CONFIGS / f"{name.removesuffix('.yaml')}.yaml"
    assert load_config(name) == load_config(path)
    overrides = ["trainer.max_epochs=1", "seeds=[3]"]
    by_name = load_config(name, overrides)
    assert by_name == load_config(path, overrides)
    assert by_name.trainer.max_epochs == 1 and by_name.seeds == [3]


@pytest.mark.parametrize("name", ["nope", "nope.yaml", "elsewhere/demo.yaml", "./demo"])
def test_an_unknown_config_says_which_names_are_shipped(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        load_config(name)
    message = str(error.value)
    assert f"Config file {Path(name)} not found" in message
    assert "demo" in message and "de_rotated_digits" in message
    assert "`orthomtl configs` lists them" in message


def test_cli_run_with_an_unknown_name_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("orthomtl: error: Config file nope not found")
    assert "orthomtl configs" in err


@pytest.mark.parametrize("name", ["demo", "demo.yaml"])
def test_an_existing_file_wins_over_a_shipped_name(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = yaml.safe_load((PACKAGE_CONFIGS / "demo.yaml").read_text())
    local["seeds"] = [7, 8]
    local.setdefault("optim", {})["lr"] = 0.123
    (tmp_path / name).write_text(yaml.safe_dump(local))
    monkeypatch.chdir(tmp_path)
    config = load_config(name)
    assert config.seeds == [7, 8] and config.optim.lr == 0.123
    assert config != load_config(PACKAGE_CONFIGS / "demo.yaml")


class _ClosedPipe:
    """A stdout whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("command", ["datasets", "methods", "configs"])
def test_a_closed_stdout_ends_the_command_quietly(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main([command]) == EXIT_BROKEN_PIPE == 141
    assert capsys.readouterr().err == ""


def test_a_pipe_closed_before_the_output_exits_without_a_traceback(tmp_path: Path) -> None:
    """Block-buffered stdout, as for a user: the output reaches the pipe when it is flushed, so
    without the explicit flush and the devnull redirect, Python's final flush at exit fails."""
    env = {k: v for k, v in SUBPROCESS_ENV.items() if k != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as in `| head -0`
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "orthomtl.cli", "datasets"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == EXIT_BROKEN_PIPE
