"""The docs hold up: the README's error list names every public exception, and docs/ cites
nothing outside the repository (every link and every document it names is here)."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest

import gett_async
from gett_async.models.problem import ERROR_TYPE

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))

#: URLs a doc may show: loopback servers (the emulator, your service) and the problem `type`
#: the SDK itself holds (a wire value, not a citation).
ALLOWED_URL = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:[A-Z0-9]+)?(/\S*)?")
URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s`)>\"']+")
LINK = re.compile(r"\]\(([^)\s]+)\)|<([a-z][a-z0-9+.-]*:[^>\s]+)>")
DOCUMENT = re.compile(r"[\w./-]+\.md\b")


def public_exceptions() -> set[str]:
    return {
        name for name in gett_async.__all__
        if isinstance(getattr(gett_async, name), type) and issubclass(getattr(gett_async, name), BaseException)
    }


def test_the_readme_error_list_names_every_public_exception() -> None:
    match = re.search(r"### Errors\n.*?```\n(.*?)```", README, re.S)
    assert match, "the README has no error list"
    listed = set(re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", match.group(1)))
    assert public_exceptions() - listed == set(), "add them to the README's error list"
    builtin = {name for name in listed if hasattr(builtins, name)}  # "also ValueError"
    assert listed - builtin - public_exceptions() == set(), "the README lists exceptions gett_async does not export"
    assert len(public_exceptions()) >= 18


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_cite_nothing_outside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    outside = []
    for url in URL.findall(text):
        if not ALLOWED_URL.fullmatch(url) and url != ERROR_TYPE:
            outside.append(url)
    for relative, scheme_link in LINK.findall(text):
        target = relative or scheme_link
        if scheme_link or re.match(r"[a-z][a-z0-9+.-]*:", target):
            outside.append(target)
            continue
        path = target.split("#", 1)[0]
        if path and not (doc.parent / path).resolve().is_file():
            outside.append(target)
    for name in DOCUMENT.findall(text):
        if not ((doc.parent / name).is_file() or (ROOT / name).is_file()):
            outside.append(name)
    assert outside == [], f"{doc.name} cites what the repository does not hold"


def test_the_citation_check_sees_links_urls_and_named_documents(tmp_path: Path) -> None:
    """Not vacuous: each kind of outside citation is caught."""
    sample = "See [the site](https://example.com/x), <https://example.org>, `commerce-api.md` and [ok](#x)."
    found = [*URL.findall(sample), *(a or b for a, b in LINK.findall(sample)), *DOCUMENT.findall(sample)]
    assert "https://example.com/x" in found and "https://example.org" in found and "commerce-api.md" in found
