"""Run the Python code blocks of the documentation pages, page by page.

Each page's ``.. code-block:: python`` blocks (or fenced ```` ```python ````
blocks in Markdown pages) are joined, in order, into one script that runs in a
fresh interpreter, as a reader pasting them one after the other would run
them. Usage, from the repository root::

    python docs/check_code_blocks.py            # every page
    python docs/check_code_blocks.py docs/gpu.rst

Exits non-zero if any page fails.
"""

import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
RST_BLOCK = re.compile(
    r"^\.\. code-block:: python\n((?:[ \t]*:.*\n)*)\n((?:(?:[ \t]+.*)?\n)+)", re.M
)
MD_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def code_blocks(path):
    text = path.read_text()
    if path.suffix == ".md":
        return [match.group(1) for match in MD_BLOCK.finditer(text)]
    return [textwrap.dedent(match.group(2)) for match in RST_BLOCK.finditer(text)]


def run_page(path):
    blocks = code_blocks(path)
    if not blocks:
        return None
    script = "\n\n".join(blocks)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{path.stem}.py"
        file.write_text(script)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(file)], cwd=tmp, capture_output=True, text=True
        )
    return len(blocks), time.perf_counter() - start, result


def main(paths):
    pages = [Path(p) for p in paths] or sorted(
        p for p in DOCS.glob("*") if p.suffix in {".rst", ".md"}
    )
    failed = []
    for page in pages:
        outcome = run_page(page)
        if outcome is None:
            continue
        n_blocks, seconds, result = outcome
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"{status:6} {page.name}: {n_blocks} block(s), {seconds:.1f} s")
        if result.returncode:
            failed.append(page.name)
            print(textwrap.indent(result.stderr[-3000:], "    "))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
