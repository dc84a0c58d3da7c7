"""The documentation points at files that exist: a renamed file must take its docs along.

- every path in backticks in docs/architecture.md (the map of where each change belongs);
- every relative link in README.md and docs/*.md, with its #anchor when it has one;
- every backticked path that starts at the repository root (`src/`, `tests/`, `docs/`,
  `bench/`) or inside `src/` (`domain/`, `application/`, `adapters/`, `entrypoints/`)
  anywhere in README.md and docs/*.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
ARCHITECTURE = ROOT / "docs" / "architecture.md"

_BACKTICKED = re.compile(r"`([^`\s]+)`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_ROOTS = ("src/", "tests/", "docs/", "bench/")
_PACKAGES = ("domain/", "application/", "adapters/", "entrypoints/")


def _outside_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def _as_path(token: str) -> str:
    """A backticked token without a pytest node id or a trailing slash."""
    return token.split("::", 1)[0].rstrip("/")


def _looks_like_a_path(token: str) -> bool:
    if "://" in token or token.startswith(("/", "$", "-")) or "<" in token:
        return False
    return "/" in token or bool(re.search(r"\.(py|md|toml|txt|json|csv|ini|cfg)$", token))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _outside_code_blocks(path.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#+\s+(.*)$", text, flags=re.MULTILINE)}


def architecture_paths() -> list[str]:
    text = _outside_code_blocks(ARCHITECTURE.read_text(encoding="utf-8"))
    return [_as_path(t) for t in _BACKTICKED.findall(text) if _looks_like_a_path(t)]


def missing_architecture_paths() -> list[str]:
    return [p for p in architecture_paths() if not (ROOT / p).exists()]


def broken_links(doc: Path) -> list[str]:
    broken = []
    for target in _LINK.findall(_outside_code_blocks(doc.read_text(encoding="utf-8"))):
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in _anchors(linked)
        ):
            broken.append(target)
    return broken


def missing_rooted_paths(doc: Path) -> list[str]:
    text = _outside_code_blocks(doc.read_text(encoding="utf-8"))
    missing = []
    for token in (_as_path(t) for t in _BACKTICKED.findall(text)):
        if "*" in token or "<" in token:
            continue
        base = ROOT / "src" if token.startswith(_PACKAGES) else ROOT
        if token.startswith(_ROOTS + _PACKAGES) and not (base / token).exists():
            missing.append(token)
    return missing


def test_every_path_named_in_the_architecture_map_exists() -> None:
    assert ARCHITECTURE.exists(), "docs/architecture.md is missing"
    assert len(architecture_paths()) >= 20, "the map names too few files to be a map"
    assert missing_architecture_paths() == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_in_the_docs_leads_somewhere(doc: Path) -> None:
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_from_the_repository_root_in_the_docs_exists(doc: Path) -> None:
    assert missing_rooted_paths(doc) == []
