"""The `treasury` console script answers --version and --help."""

from __future__ import annotations

from typer.testing import CliRunner

from entrypoints.cli.main import app

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("treasury ")
    assert "0.1.0" in result.stdout


def test_help_describes_the_tool() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "treasury manager" in result.stdout.lower()
