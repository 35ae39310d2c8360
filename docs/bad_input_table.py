"""Print the table of bad inputs and their errors, or write it into reliability.rst.

The cases are those ``tests/test_validation.py`` runs; each is run here and its
error type and exact message are printed, so the page shows what users see.
``test_docs_table_is_current`` fails when the page is out of date. Usage, from
the repository root::

    python docs/bad_input_table.py           # print the table
    python docs/bad_input_table.py --write   # replace it in docs/reliability.rst
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_validation import (  # noqa: E402
    DOCS_PAGE,
    TABLE_END,
    TABLE_START,
    make_context,
    render_table,
)


def main():
    with tempfile.TemporaryDirectory() as directory:
        table = render_table(make_context(directory))
    if "--write" not in sys.argv[1:]:
        print(table)
        return
    page = DOCS_PAGE.read_text()
    start = page.index(TABLE_START) + len(TABLE_START)
    end = page.index(TABLE_END)
    DOCS_PAGE.write_text(page[:start] + "\n\n" + table.strip() + "\n\n" + page[end:])
    print(f"wrote {DOCS_PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
