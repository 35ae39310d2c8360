"""Every results file the README and the docs pages cite exists and records its
command; every current (not archived) results file was made at today's
package defaults.

A cited file is any ``benchmarks/results/...`` path ending in .md, .png or
.json (``../benchmarks/results/...`` in a MyST include counts too). Every
benchmark script writes a ``- Command:`` line into its Markdown header
(``benchmarks/_common.header``); a cited Markdown file without one cannot say
how it was made. Pure file reading: no script is run.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*") if p.suffix in {".rst", ".md"}),
]
# The shortest path up to the first extension not followed by a word
# character: a sentence's full stop or a closing quote is left out.
CITATION = re.compile(r"benchmarks/results/([\w./-]*?\.(?:md|png|json))(?!\w)")
#: Files in the results folders that explain the others, not results.
NOT_RESULTS = {"README.md"}


def _citations():
    """``(page name, path relative to benchmarks/results)`` of every citation."""
    return sorted(
        {
            (page.name, match)
            for page in PAGES
            for match in CITATION.findall(page.read_text(encoding="utf-8"))
        }
    )


CITATIONS = _citations()
CITED_MARKDOWN = [
    (page, cited)
    for page, cited in CITATIONS
    if cited.endswith(".md") and Path(cited).name not in NOT_RESULTS
]


def _ids(pairs):
    return [f"{page}:{cited}" for page, cited in pairs]


def test_citations_are_found():
    # The benchmarks page includes the current results; the pattern finds them.
    assert ("benchmarks.md", "paper_protocol.md") in CITATIONS
    assert any(cited.startswith("archive/") for _, cited in CITATIONS)


def test_the_pattern_leaves_punctuation_out():
    text = "see ``benchmarks/results/archive/memmap.md``. And benchmarks/results/a.png."
    assert CITATION.findall(text) == ["archive/memmap.md", "a.png"]


@pytest.mark.parametrize(("page", "cited"), CITATIONS, ids=_ids(CITATIONS))
def test_cited_results_file_exists(page, cited):
    assert (RESULTS / cited).is_file(), f"{page} cites benchmarks/results/{cited}"


@pytest.mark.parametrize(("page", "cited"), CITED_MARKDOWN, ids=_ids(CITED_MARKDOWN))
def test_cited_markdown_records_its_command(page, cited):
    path = RESULTS / cited
    if not path.is_file():
        pytest.skip("missing: test_cited_results_file_exists fails for it")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("- Command: `") for line in lines), (
        f"benchmarks/results/{cited} (cited in {page}) has no '- Command:' line"
    )


#: ``name=value`` pairs in a results file's "Package defaults at this run" line.
SETTING = re.compile(r"`(\w+)=([^`]+)`")


def _recorded_defaults(text):
    """``{"teacher": {...}, "student": {...}}`` from a results header."""
    start = text.index("Package defaults at this run:")
    block = text[start : text.index("\n- ", start)]
    teacher, student = block.split("; student")
    return {
        "teacher": dict(SETTING.findall(teacher)),
        "student": dict(SETTING.findall(student)),
    }


CURRENT = sorted(p.name for p in RESULTS.glob("*.md"))


def test_current_results_are_at_todays_defaults():
    """A results file outside ``archive/`` records the package defaults it was
    made at, and they are today's: a default that changes sends it to the
    archive (or to a rerun)."""
    from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
    from sklearn_subdistill._selection import (
        AUTO_FOLD_TEACHERS,
        AUTO_FOLDS,
        AUTO_MARGIN,
    )

    # How "auto" chooses is part of what the default student is.
    auto = {
        "auto_folds": AUTO_FOLDS,
        "auto_margin": AUTO_MARGIN,
        "auto_fold_teachers": AUTO_FOLD_TEACHERS,
    }
    today = {
        "teacher": SubclassTeacherClassifier().get_params(),
        "student": {**SubclassDistilledStudent().get_params(), **auto},
    }
    assert CURRENT, "no current results file"
    for name in CURRENT:
        recorded = _recorded_defaults((RESULTS / name).read_text(encoding="utf-8"))
        for kind, settings in recorded.items():
            assert settings, f"{name} records no {kind} defaults"
            if kind == "student":
                assert set(auto) <= set(settings), (
                    f"{name} does not record how subclass_weight='auto' chose "
                    f"({', '.join(auto)}): made before it chose as it does today"
                )
            for key, value in settings.items():
                assert value == repr(today[kind][key]), (
                    f"{name} was made at {kind} {key}={value}; today's default is "
                    f"{today[kind][key]!r}"
                )


def test_recorded_defaults_are_parsed():
    text = (
        "- Package defaults at this run: teacher `n_subclasses=10`, `aux_loss='x'`;"
        " student\n  `temperature=1.0`.\n- Students: ..."
    )
    assert _recorded_defaults(text) == {
        "teacher": {"n_subclasses": "10", "aux_loss": "'x'"},
        "student": {"temperature": "1.0"},
    }
