"""How long the package's main job takes: ``python -m sklearn_subdistill``.

Runs ``sklearn_subdistill.__main__.main`` with its default arguments and with
``--full`` in this process, one after the other, and records each one's own
run time (the "Total time" it prints: from the start of ``main`` to its
end, imports excluded) and the wall time of the call. The README quotes
these figures.

Usage::

    python benchmarks/main_job.py
"""

import argparse
import contextlib
import io
import re
import time

from _common import Timer, header, markdown_table, package_defaults, write_results

from sklearn_subdistill.__main__ import main as main_job


def run(argv):
    """``(own seconds as printed, wall seconds, output)`` of one run."""
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main_job(argv)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"python -m sklearn_subdistill {' '.join(argv)} failed")
    text = out.getvalue()
    (own,) = re.findall(r"Total time: (\d+) s", text)
    return int(own), wall, text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    timer = Timer()
    rows, outputs = [], []
    for args in ([], ["--full"]):
        own, wall, text = run(args)
        command = " ".join(["python -m sklearn_subdistill", *args])
        rows.append([f"`{command}`", own, f"{wall:.0f}"])
        outputs.append(f"Output of `{command}`:\n\n```\n{text.strip()}\n```")
    description = """
`python -m sklearn_subdistill` (the README's first command) run in this
process with its defaults and with `--full`. "Own run time" is the "Total
time" line it prints last (from the start of its `main` to its end; the
imports of torch, skorch and scikit-learn before it are not counted);
"call" is the wall time of the call from this script.
"""
    parts = [
        header(
            "The main job's run time",
            description,
            timer(),
            settings=package_defaults(),
        ),
        markdown_table(["command", "own run time (s)", "call (s)"], rows),
        "",
        *outputs,
    ]
    write_results("main_job", "\n\n".join(parts))


if __name__ == "__main__":
    main()
