"""Helpers shared by the benchmark scripts (not part of the package).

Every script pins torch to one thread (``torch.set_num_threads(1)``) before it
trains anything: on a small shared machine, oversubscribed threads make torch
many times slower. Run the scripts as::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/<script>.py
"""

import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

#: Where every script writes its Markdown table and its plot.
RESULTS = Path(__file__).resolve().parent / "results"


def _machine():
    """The machine a run is on, in words (CPU cores, GPU)."""
    cores = os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return f"{cores} CPU cores, " + (f"GPU: {gpu}" if gpu else "no GPU")


MACHINE = _machine()


def pin_threads(n_threads=1):
    """One torch thread (intra- and inter-op); returns the thread count used."""
    torch.set_num_threads(n_threads)
    try:
        torch.set_num_interop_threads(n_threads)
    except RuntimeError:  # already set, or parallel work has already started
        pass
    return torch.get_num_threads()


def command_line():
    """The command that started this process, as it could be typed again
    (with its niceness and ``OMP_NUM_THREADS``, where set)."""
    script = os.path.relpath(sys.argv[0], Path(__file__).resolve().parent.parent)
    niceness = os.nice(0)
    threads = os.environ.get("OMP_NUM_THREADS")
    prefix = [f"nice -n {niceness}"] if niceness else []
    prefix += [f"env OMP_NUM_THREADS={shlex.quote(threads)}"] if threads else []
    return " ".join(
        [*prefix, "python", shlex.quote(script), *map(shlex.quote, sys.argv[1:])]
    )


#: The settings a results file records as the package's defaults at its run
#: (``tests/test_docs_results.py`` checks them against today's).
TEACHER_KEYS = ("n_subclasses", "subclass_head", "aux_loss", "aux_weight",
                "subclass_temperature", "class_mass")  # fmt: skip
STUDENT_KEYS = ("temperature", "subclass_weight", "class_mass", "alpha")
#: The header entry :func:`package_defaults` fills.
DEFAULTS_ENTRY = "Package defaults at this run"


def auto_rule():
    """How ``subclass_weight="auto"`` chooses (not parameters, but they
    change what the default student is): its folds, its margin and whether
    it checks a split with fold teachers."""
    from sklearn_subdistill._selection import (
        AUTO_FOLD_TEACHERS,
        AUTO_FOLDS,
        AUTO_MARGIN,
    )

    return {
        "auto_folds": AUTO_FOLDS,
        "auto_margin": AUTO_MARGIN,
        "auto_fold_teachers": AUTO_FOLD_TEACHERS,
    }


def package_defaults():
    """``{"Package defaults at this run": "teacher `k=v`, ...; student ..."}``:
    the estimators' defaults of today (``get_params()`` of a new
    ``SubclassTeacherClassifier`` and ``SubclassDistilledStudent``), as
    ``benchmarks/paper_protocol.py`` writes them, for :func:`header`'s
    ``settings``."""
    t, s = default_settings()
    return {DEFAULTS_ENTRY: f"teacher {t}; student {s}"}


def default_settings():
    """The teacher's and the student's parts of the defaults line:
    ``"`k=v`, ..."`` each (the student's with :func:`auto_rule`)."""
    from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier

    auto = auto_rule()
    teacher = SubclassTeacherClassifier().get_params()
    student = {**SubclassDistilledStudent().get_params(), **auto}
    t = ", ".join(f"`{k}={teacher[k]!r}`" for k in TEACHER_KEYS)
    s = ", ".join(f"`{k}={student[k]!r}`" for k in (*STUDENT_KEYS, *auto))
    return t, s


def header(title, description, wall_seconds, settings=None):
    """The Markdown header: title, what was run, where, when and how long.

    ``settings`` (``{name: value}``) become ``- name: value`` lines before the
    wall time, so that each is followed by another list item (the defaults
    line is read up to the next one)."""
    import sklearn
    import skorch

    from sklearn_subdistill import __version__

    lines = [
        f"# {title}",
        "",
        f"- Command: `{command_line()}`",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- Machine: {MACHINE}; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}",
        f"- torch {torch.__version__} (threads: {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
        f"skorch {skorch.__version__}, scikit-learn {sklearn.__version__}, "
        f"sklearn_subdistill {__version__}",
    ]
    for key, value in (settings or {}).items():
        lines.append(f"- {key}: {value}")
    lines += [f"- Wall time: {wall_seconds:.0f} s", "", description.strip(), ""]
    return "\n".join(lines)


def mean_std(values, digits=4):
    """``mean ± std`` (population std, over seeds) of ``values``."""
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def markdown_table(header_cells, rows, align=None):
    """A Markdown table; ``align`` is one ``"l"``/``"r"`` per column."""
    align = align or ["l"] + ["r"] * (len(header_cells) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header_cells) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name, markdown, figure=None, quick=False):
    """Write ``<name>.md`` and, given a figure, ``<name>.png``
    (``<name>_quick.*`` for --quick); returns the paths written."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_quick" if quick else name
    paths = [RESULTS / f"{stem}.md"]
    paths[0].write_text(markdown.rstrip() + "\n", encoding="utf-8")
    if figure is not None:
        paths.append(RESULTS / f"{stem}.png")
        figure.savefig(paths[1], dpi=120, bbox_inches="tight")
    print(markdown)
    print("\nWrote " + " and ".join(str(path) for path in paths))
    return paths


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self):
        return time.perf_counter() - self.start
