"""Students of other sizes than the study's ``MLP(32)``.

On the paper-protocol split (``benchmarks/paper_protocol.py``) of
Fashion-MNIST 0-4 vs 5-9 (1% and 5% of the labels) and Stop-question-frisk
(5%), the default teacher (early-stopped, fitted on all training rows) is
distilled into students of one hidden layer of 16 or of 128 units, about 500
Adam steps on the labelled rows alone. Each candidate of
``subclass_weight="auto"`` is scored as ``benchmarks/auto_choice.py`` scores
it (with the teacher, with fold teachers, on the test rows), beside the
student on its labels alone; the ``MLP(32)`` students are
``auto_choice.py``'s own runs (``results/auto_choice.json``: same seeds,
splits, labelled rows and teachers).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/student_size.py --n-jobs 2
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/student_size.py --quick
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Timer, header, package_defaults, pin_threads, write_results

pin_threads(1)

from auto_choice import (  # noqa: E402
    RULES,
    add_seed_arguments,
    fraction_run,
    gains,
    paper_split,
    run_seeds,
    save_runs,
)

from sklearn_subdistill import SubclassTeacherClassifier  # noqa: E402

#: Data set: its labelled fractions.
CELLS = {
    "Fashion-MNIST 0-4 vs 5-9": (0.01, 0.05),
    "Stop-question-frisk (ROC AUC)": (0.05,),
}
#: Hidden layers of the students, beside auto_choice.py's ``(32,)``.
SIZES = ((16,), (128,))
RULE = {"both (auto)": RULES["both (auto)"]}
ALWAYS = {"split always": "subclasses", "labels only": "labels only"}


def one_seed(name, seed, student_steps=500, quick=False):
    """Per labelled fraction and student size, the candidates' scores as
    ``auto_choice.one_run`` records them, and labels only; one seed."""
    split = paper_split(name, seed)
    teacher = SubclassTeacherClassifier(
        device="cpu", random_state=seed, early_stopping=True
    ).fit(split[0], split[1])
    return [
        {
            **fraction_run(name, seed, split, teacher, fraction, student_steps, hidden),
            "hidden": list(hidden),
        }
        for fraction in CELLS[name][: 1 if quick else None]
        for hidden in SIZES
    ]


def by_size(runs):
    """``runs`` with the student's size in their data set's name, so that
    :func:`auto_choice.gains` gives a line per data set, fraction and size."""
    return [
        {**run, "data": f"{run['data']}, MLP({', '.join(map(str, run['hidden']))})"}
        for run in sorted(runs, key=lambda r: (r["data"], r["fraction"], r["hidden"]))
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_seed_arguments(parser)
    args = parser.parse_args(argv)
    timer = Timer()
    runs = run_seeds(one_seed, CELLS, args)
    save_runs("student_size", runs, args.quick)
    # The MLP(32) students: auto_choice.py's runs of the same cells (no
    # labels-only student there).
    mlp32 = [
        {**run, "hidden": [32]}
        for run in json.loads((RESULTS / "auto_choice.json").read_text())
        if run["fraction"] in CELLS.get(run["data"], ())
    ]
    description = """
The default teacher of the paper-protocol split (`MLP(256, 256)`,
`early_stopping=True`, fitted on all training rows) distilled into students
of one hidden layer of 16, 32 or 128 units, about 500 Adam steps on the
labelled rows alone. `both (auto)`: what the default student chooses (its
candidates scored as in `auto_choice.md`), and how often it kept a split;
`split always`: the paper's loss on the teacher's split every time;
`labels only`: the student on its labels alone (`alpha=0`). Differences with
conventional distillation on the test rows (accuracy or ROC AUC, points),
paired over seeds. The `MLP(32)` lines are `auto_choice.json`'s runs (same
seeds, splits, labelled rows and teachers), which have no labels-only
student.
"""
    table32 = gains(by_size(mlp32), rules=RULE, always={"split always": "subclasses"})
    parts = [
        header(
            "Students of other sizes",
            description,
            timer(),
            settings=package_defaults(),
        ),
        "## Against conventional distillation, on the test rows",
        "",
        gains(by_size(runs), rules=RULE, always=ALWAYS),
        "",
        "## MLP(32) (auto_choice.json)",
        "",
        table32,
    ]
    write_results("student_size", "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
