"""One table of exit codes for every `treasury` command, one meaning per code, documented."""

from __future__ import annotations

import re
from pathlib import Path

from entrypoints.cli.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "src" / "entrypoints" / "cli"

# A module-level exit code of its own, or an exit with a bare number.
_OWN_CODE = re.compile(r"^EXIT_\w+\s*(?::\s*\w+\s*)?=\s*\d+", re.MULTILINE)
_BARE_EXIT = re.compile(r"(?:typer\.Exit|SystemExit|sys\.exit)\(\s*\d+\s*\)")


def test_no_cli_module_defines_an_exit_code_of_its_own() -> None:
    found = {
        path.name: _OWN_CODE.findall(text) + _BARE_EXIT.findall(text)
        for path in sorted(CLI.glob("*.py"))
        if path.name != "exit_codes.py"
        for text in [path.read_text(encoding="utf-8")]
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_a_broken_audit_chain_and_invalid_input_never_share_a_code() -> None:
    values = [code.value for code in ExitCode]
    assert len(values) == len(set(values))
    assert ExitCode.AUDIT_BROKEN != ExitCode.USAGE


def test_docs_list_every_code_with_its_name() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`", text, re.MULTILINE))
    assert rows == {str(code.value): code.name for code in ExitCode}
