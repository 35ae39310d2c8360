"""Every Python code block of the README and the docs pages runs when pasted."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "check_code_blocks", ROOT / "docs" / "check_code_blocks.py"
)
check_code_blocks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_code_blocks)

PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*") if p.suffix in {".rst", ".md"}),
]
PAGES_WITH_CODE = [p for p in PAGES if check_code_blocks.code_blocks(p)]


def test_pages_with_code_are_found():
    names = {p.name for p in PAGES_WITH_CODE}
    assert {"README.md", "quickstart.rst", "index.rst"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.name)
def test_code_blocks_run(page):
    n_blocks, _, result = check_code_blocks.run_page(page)
    assert result.returncode == 0, (
        f"{page.name}: {n_blocks} block(s) failed:\n{result.stderr[-3000:]}"
    )
