"""Bearer-token authentication with roles: viewer < operator < approver.

Tokens come from `TREASURY_API_TOKENS` as comma-separated `token:role` pairs. Comparison is
constant-time. A token never appears in a log line, error or response; only its role and a
short fingerprint (first 8 hex digits of its SHA-256) identify who acted.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3


class TokenConfigError(ValueError):
    """`TREASURY_API_TOKENS` is malformed. The message never repeats a token."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: their role and a fingerprint of their token."""

    role: Role
    fingerprint: str

    @property
    def name(self) -> str:
        """How audit entries name this caller."""
        return f"{self.role.name.lower()}:{self.fingerprint}"


def fingerprint(token: str) -> str:
    """A short, non-reversible identifier of a token for audit trails."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    role: Role
    fingerprint: str


class TokenRegistry:
    """Holds token digests (never the tokens themselves) and authenticates bearer tokens."""

    __slots__ = ("_entries",)

    def __init__(self, pairs: dict[str, Role]) -> None:
        self._entries = tuple(
            _Entry(hashlib.sha256(t.encode()).digest(), role, fingerprint(t))
            for t, role in pairs.items()
        )

    @classmethod
    def parse(cls, spec: str) -> TokenRegistry:
        """Parse `token:role,token:role`.

        Raises:
            TokenConfigError: a pair is malformed, a role unknown, or a token too short.
        """
        pairs: dict[str, Role] = {}
        for index, raw in enumerate(p.strip() for p in spec.split(",")):
            if not raw:
                continue
            token, sep, role_name = raw.rpartition(":")
            if not sep or not token:
                raise TokenConfigError(f"TREASURY_API_TOKENS entry {index + 1} is not token:role")
            try:
                role = Role[role_name.strip().upper()]
            except KeyError:
                raise TokenConfigError(
                    f"TREASURY_API_TOKENS entry {index + 1} has unknown role {role_name.strip()!r}"
                    " (viewer, operator or approver)"
                ) from None
            if len(token) < 16:
                raise TokenConfigError(
                    f"TREASURY_API_TOKENS entry {index + 1}: tokens must be at least 16 characters"
                )
            pairs[token] = role
        return cls(pairs)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TokenRegistry({len(self._entries)} tokens)"

    def authenticate(self, token: str) -> Principal | None:
        """The principal for a bearer token, or None. Every entry is compared in constant time."""
        digest = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = Principal(entry.role, entry.fingerprint)
        return found
