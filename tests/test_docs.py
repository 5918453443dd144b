"""The repository documents itself: every citation points to docs/theory.md or docs/api.md.

Nothing tracked in the repository, and nothing the service serves in its OpenAPI schema, may cite
documents that are not in it (the project's original planning notes); every "docs/theory.md §N"
cited anywhere must name a section that docs/theory.md has.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"
API = ROOT / "docs" / "api.md"

# Built from parts so that this file does not contain what it forbids.
FORBIDDEN = ("THEORY" + ".md", "API" + ".md", "../" + "shared", "/work/" + "shared")

#: A citation of docs/theory.md with its section list: "docs/theory.md §5", "… §2, §3, §8", "… §1–3".
THEORY_CITATION = re.compile(r"docs/theory\.md\s*((?:§\s*\d+(?:\.\d+)?[\s,–-]*(?:and\s+)?)+)")
SECTION_NUMBER = re.compile(r"\d+(?:\.\d+)?")
HEADING = re.compile(r"^#{2,4}\s+(\d+(?:\.\d+)?)[.\s]", re.MULTILINE)
BARE_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)?)")


def tracked_text_files() -> list[Path]:
    """Text files under version control (every file under ROOT when git is unavailable)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
        paths = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache"}
        paths = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    texts = []
    for path in paths:
        if not path.is_file():  # deleted in the work tree, not yet in the index
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (figures)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        texts.append(path)
    return texts


def theory_sections() -> set[str]:
    return set(HEADING.findall(THEORY.read_text(encoding="utf-8")))


def cited_sections(text: str) -> list[str]:
    return [n for m in THEORY_CITATION.finditer(text) for n in SECTION_NUMBER.findall(m.group(1))]


def test_the_docs_exist_with_sections_one_to_ten() -> None:
    sections = theory_sections()
    assert {str(n) for n in range(1, 11)} <= sections, sorted(sections)
    assert API.is_file()


def test_no_tracked_file_cites_documents_outside_the_repository() -> None:
    offenders = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for name in FORBIDDEN:
                if name in line:
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not offenders, "cite docs/theory.md §N or docs/api.md instead:\n" + "\n".join(offenders)


def test_served_openapi_cites_only_the_repository_docs(tmp_path: Path) -> None:
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings(cache_path=tmp_path / "cache.sqlite3"))
    schema = json.dumps(app.openapi(), ensure_ascii=False)
    found = [name for name in FORBIDDEN if name in schema]
    assert not found, f"the served OpenAPI schema cites {found}; cite docs/theory.md §N or docs/api.md"
    missing = sorted(set(cited_sections(schema)) - theory_sections())
    assert not missing, f"the served OpenAPI schema cites docs/theory.md sections it lacks: {missing}"


def test_every_cited_theory_section_exists() -> None:
    sections = theory_sections()
    missing = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8")
        for section in cited_sections(text):
            if section not in sections:
                missing.append(f"{path.relative_to(ROOT)}: docs/theory.md §{section}")
    assert not missing, "no such heading in docs/theory.md:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", [THEORY, API], ids=lambda p: p.name)
def test_section_signs_inside_the_docs_name_existing_sections(doc: Path) -> None:
    """In docs/theory.md and docs/api.md a bare "§N" means a section of docs/theory.md."""
    sections = theory_sections()
    missing = sorted({n for n in BARE_SECTION.findall(doc.read_text(encoding="utf-8"))} - sections)
    assert not missing, f"{doc.name} cites §{missing}, which docs/theory.md does not have"


def test_citation_pattern_reads_lists_and_ranges() -> None:
    text = "see docs/theory.md §2, §3, §8 and docs/theory.md §10.2."
    assert cited_sections(text) == ["2", "3", "8", "10.2"]
    assert cited_sections("(docs/theory.md §3–§7)") == ["3", "7"]
    assert cited_sections("docs/theory.md, the model") == []


def test_readme_links_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/theory.md" in readme and "docs/api.md" in readme


#: C0 control characters and DEL, except the newline (and a carriage return before it). A tab is one
#: too: "\t", "\a", "\f" written in a string without raw quoting become one, as in "\theta".
CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
TABS_ALLOWED = ("Makefile", ".tsv")


def test_no_text_file_holds_control_characters() -> None:
    found = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8")
        if path.name.endswith(TABS_ALLOWED):
            text = text.replace("\t", "")
        for number, line in enumerate(text.split("\n"), 1):
            match = CONTROL.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group()!r} in {line[:60]!r}")
    assert not found, "\n".join(found)
