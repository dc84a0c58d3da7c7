"""Commands that load on use: `treasury --help` must not pay for every command's libraries.

Each command (or group of commands) is named here with the module that defines it and a
one-line summary for the help page. The module is imported only when the command runs or its
own help is asked for, so `treasury --help` loads Typer and nothing of the service, and
`treasury status` loads the HTTP client and not web3, Vyper, anthropic or SQLAlchemy.
A unit test keeps every summary equal to the loaded command's own first line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True, slots=True, kw_only=True)
class LazyCommand:
    """A command known by name and summary; its module is imported on first use."""

    name: str
    module: str
    attribute: str
    summary: str

    def load(self) -> Any:
        """The Click command the module defines: a Typer sub-app becomes a group, a function
        a single command."""
        target = getattr(importlib.import_module(self.module), self.attribute)
        command: Any
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)
        else:
            holder = typer.Typer(add_completion=False)
            holder.command(self.name)(target)
            command = typer.main.get_command(holder)
        command.name = self.name
        _plain(command)
        return command


def _plain(command: Any) -> None:
    """Plain help and errors for `command` and its subcommands, as for the root (rich would
    cost about 0.2 s to import; see `entrypoints.cli.main`)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain(sub)


class _Listed(TyperCommand):
    """What the help page shows for a command that has not been loaded."""

    def __init__(self, spec: LazyCommand) -> None:
        super().__init__(name=spec.name, callback=None, help=spec.summary)
        self.spec = spec


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands are `LazyCommand`s, loaded when resolved to run.

    Subclasses set `lazy_commands`; Typer builds the group with `typer.Typer(cls=...)`.
    """

    lazy_commands: ClassVar[tuple[LazyCommand, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for spec in self.lazy_commands:
            self.commands[spec.name] = _Listed(spec)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help page, from the summaries alone (nothing is imported for it)."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command to run, importing its module the first time."""
        command = self.commands.get(cmd_name)
        if isinstance(command, _Listed) and not self._listing:
            command = self.commands[cmd_name] = command.spec.load()
        return command
