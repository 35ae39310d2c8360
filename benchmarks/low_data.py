"""Low-data study: three students at several labelled-data sizes.

For each seed (a stratified train/test split) and each labelled fraction of
the training rows, a subclass teacher (5 subclasses) and a conventional
teacher (1 subclass, ``aux_weight=0``) are fitted on the labelled rows, then
three students with the same small network on the same rows: labels only
(``alpha=0``), conventional distillation and subclass distillation. Every
network gets about the same number of optimiser steps whatever the subset's
size (``sklearn_subdistill._study.low_data_study``).

Datasets: digits collapsed to 0-4 vs 5-9 (``load_digits_superclasses``) and
``make_subclass_classification`` (2 classes x 5 hidden subclasses).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/low_data.py
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/low_data.py --quick
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Timer,
    header,
    markdown_table,
    mean_std,
    pin_threads,
    write_results,
)

pin_threads(1)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sklearn_subdistill import SubclassDistilledStudent  # noqa: E402
from sklearn_subdistill._study import METHODS, low_data_study  # noqa: E402
from sklearn_subdistill.datasets import (  # noqa: E402
    load_digits_superclasses,
    make_subclass_classification,
)

STUDENT = {"hidden_layer_sizes": (32,)}


def datasets(n_samples):
    X, y, digit = load_digits_superclasses(n_superclasses=2)
    yield "digits 0-4 vs 5-9", X.astype(np.float32), y, digit
    X, y, sub = make_subclass_classification(
        n_samples=n_samples, n_features=20, n_classes=2, n_subclasses=5, random_state=0
    )
    yield (
        f"make_subclass_classification (2x5, {n_samples} rows)",
        X.astype(np.float32),
        y,
        sub,
    )


def table(rows):
    columns = (*METHODS, "teacher conventional", "teacher subclass", "recovery")
    body = []
    for fraction in sorted({r["fraction"] for r in rows}):
        group = [r for r in rows if r["fraction"] == fraction]
        best = max(METHODS, key=lambda m: np.mean([r[m] for r in group]))
        cells = [f"{fraction:.0%}", str(group[0]["n_labelled"])]
        for column in columns:
            cell = mean_std([r[column] for r in group])
            cells.append(f"**{cell}**" if column == best else cell)
        body.append(cells)
    return markdown_table(["labelled", "n", *columns], body)


def wins(rows):
    """How often (over seeds) subclass distillation beats each other student."""
    out = []
    for fraction in sorted({r["fraction"] for r in rows}):
        group = [r for r in rows if r["fraction"] == fraction]
        diff_lab = np.array([r["subclass"] - r["labels only"] for r in group])
        diff_conv = np.array([r["subclass"] - r["conventional"] for r in group])
        out.append(
            [
                f"{fraction:.0%}",
                f"{diff_lab.mean():+.4f} ({(diff_lab > 0).sum()}/"
                f"{(diff_lab < 0).sum()})",
                f"{diff_conv.mean():+.4f} ({(diff_conv > 0).sum()}/"
                f"{(diff_conv < 0).sum()})",
            ]
        )
    return markdown_table(
        [
            "labelled",
            "subclass - labels only (wins/losses)",
            "subclass - conventional (wins/losses)",
        ],
        out,
    )


def plot(results):
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2))
    axes = np.atleast_1d(axes)
    for ax, (name, rows) in zip(axes, results.items(), strict=True):
        fractions = sorted({r["fraction"] for r in rows})
        for i, method in enumerate((*METHODS, "teacher subclass")):
            means, stds = [], []
            for fraction in fractions:
                values = [r[method] for r in rows if r["fraction"] == fraction]
                means.append(np.mean(values))
                stds.append(np.std(values))
            # Offset the x positions a little so the error bars do not overlap.
            x = np.array(fractions) * (1 + 0.03 * (i - 1.5))
            style = "--" if method.startswith("teacher") else "-"
            ax.errorbar(
                x, means, yerr=stds, marker="o", capsize=3, ls=style, label=method
            )
        ax.set_xscale("log")
        ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
        ax.minorticks_off()
        ax.set_xlabel("labelled fraction of the training rows")
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds (default: 5)")
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.05, 0.1, 0.25, 1.0],
        help="labelled fractions (default: 0.05 0.1 0.25 1.0)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="optimiser steps per network, teachers and students (default: 1000)",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=3000,
        help="rows of make_subclass_classification (default: 3000)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny smoke run (< 1 minute)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.fractions, args.steps, args.n_samples = 1, [0.1], 40, 600

    timer = Timer()
    results = {}
    for name, X, y, hidden in datasets(args.n_samples):
        print(f"== {name}", flush=True)
        results[name] = low_data_study(
            X,
            y,
            hidden,
            fractions=args.fractions,
            seeds=range(args.seeds),
            n_subclasses=5,
            teacher_params={"device": "cpu"},
            student_params={"device": "cpu", **STUDENT},
            teacher_steps=args.steps,
            student_steps=args.steps,
            progress=False,
        )
        print(table(results[name]), flush=True)

    student_defaults = SubclassDistilledStudent()
    description = f"""
Test accuracy of three students trained on the labelled rows only: labels only
(`alpha=0`), conventional distillation (teacher with 1 subclass,
`aux_weight=0`) and subclass distillation (teacher with 5 subclasses, default
`aux_weight=1`, `aux_temperature=1`); students are `MLP(32)` networks with the
default `temperature={student_defaults.temperature:g}`,
`alpha={student_defaults.alpha:g}`; teachers are the default `MLP(256, 256)`.
Both teachers are fitted on the same labelled rows as the students. Every
network gets about {args.steps} Adam steps (batch 256, lr 1e-3) whatever the
number of rows. Mean ± std over {args.seeds} seeds (each seed: a new stratified
70/30 train/test split, labelled subset, initialisation). `recovery` is the
subclass teacher's `subclass_recovery_score` of the hidden subclasses (digit,
or generating cluster) on the test rows. The best student per row is in bold.
"""
    parts = [header("Low-data study", description, timer())]
    for name, rows in results.items():
        parts += [
            f"## {name}",
            "",
            table(rows),
            "",
            "Subclass student minus the others, mean over seeds (seeds won/lost):",
            "",
            wins(rows),
            "",
        ]
    write_results("low_data", "\n".join(parts), plot(results), quick=args.quick)


if __name__ == "__main__":
    main()
