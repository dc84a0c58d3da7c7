"""The `treasury` command's exit codes: one table, one meaning per code (docs/cli.md lists it).

Scripts may rely on these: 75 means "try again later", 2 means "fix what you typed or set".
Every command exits through this table; no module defines a code of its own.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """Why a command ended."""

    OK = 0
    """It did what was asked."""
    FAILURE = 1
    """It could not: the service refused the request (a plan the policy rejects), a check or
    delivery failed, or an operation failed for good. The message says which."""
    USAGE = 2
    """Invalid input: an option, an argument or a setting (TREASURY_...) is wrong; the message
    names it and the fix. Click uses 2 for its own usage errors too."""
    NOT_FOUND = 3
    """What the command names does not exist (a decision id, a file)."""
    CONFLICT = 4
    """The state changed under the command (a decision no longer pending, a concurrent
    write): read it again before retrying."""
    AUDIT_BROKEN = 5
    """`treasury audit verify` found the hash-chained audit log altered."""
    TEMPORARY = 75
    """EX_TEMPFAIL: the service, database or node could not be reached or was busy; the same
    command may work later."""
    NO_PERMISSION = 77
    """EX_NOPERM: the API token is missing, unknown, or its role may not do this."""


__all__ = ["ExitCode"]
