"""Transfer study: a few labelled rows plus unlabelled rows.

For each seed (a stratified train/test split) a small stratified labelled
subset of the training rows is drawn; the other training rows are passed
unlabelled (label ``-1``), where the student takes the distillation term
alone. Teachers (subclass: the package's default teacher; conventional: its
1-subclass twin, ``aux_weight=0``) are fitted on the labelled subset only and
passed frozen. Every student has the same network and the same number of
optimiser steps:

- all labels: every training row labelled, no teacher (upper reference);
- labelled subset only: the labelled rows alone, no teacher;
- conventional: the twin's student at the package's student defaults;
- subclass: the default teacher's student at the package's defaults
  (``subclass_weight="auto"``, which distils conventionally with unlabelled
  rows);
- subclass, split: the default teacher's student with the paper's loss
  (``subclass_weight=1``) at each of ``--temperatures`` (default 1 and 4),

all but the references on the labelled subset plus the unlabelled rows.

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/transfer.py
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/transfer.py --quick
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
    package_defaults,
    pin_threads,
    write_results,
)

pin_threads(1)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _study import epochs_for_steps  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sklearn_subdistill import (  # noqa: E402
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill.datasets import (  # noqa: E402
    load_digits_superclasses,
    make_subclass_classification,
)
from sklearn_subdistill.metrics import subclass_recovery_score  # noqa: E402

STUDENT = {"hidden_layer_sizes": (32,)}
BATCH = 256
#: The students' parameters on top of the package's defaults, by name.
DISTILLED = {"conventional": {}, "subclass": {}}


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


def variants(temperatures):
    return ["all labels", "labelled subset only", "conventional", "subclass",
            *(f"subclass, split, T={t:g}" for t in temperatures)]  # fmt: skip


def run_seed(X, y, hidden, seed, args):
    X_train, X_test, y_train, y_test, _, hidden_test = train_test_split(
        X, y, hidden, test_size=0.3, random_state=seed, stratify=y
    )
    labelled, _ = train_test_split(
        np.arange(len(X_train)),
        train_size=args.n_labelled,
        random_state=seed,
        stratify=y_train,
    )
    y_partial = np.full_like(y_train, -1)
    y_partial[labelled] = y_train[labelled]
    X_lab, y_lab = X_train[labelled], y_train[labelled]

    teacher = {
        "device": "cpu",
        "random_state": seed,
        "max_epochs": epochs_for_steps(len(X_lab), BATCH, args.teacher_steps),
    }
    sub_teacher = SubclassTeacherClassifier(**teacher).fit(X_lab, y_lab)
    conv_teacher = SubclassTeacherClassifier(
        n_subclasses=1, aux_weight=0.0, **teacher
    ).fit(X_lab, y_lab)
    row = {
        "teacher subclass": sub_teacher.score(X_test, y_test),
        "teacher conventional": conv_teacher.score(X_test, y_test),
        "recovery": subclass_recovery_score(
            hidden_test, sub_teacher.predict_subclass(X_test)
        ),
    }

    def student(X_fit, y_fit, **params):
        params = {
            "device": "cpu",
            "random_state": seed,
            "max_epochs": epochs_for_steps(len(X_fit), BATCH, args.student_steps),
            **STUDENT,
            **params,
        }
        model = SubclassDistilledStudent(**params).fit(X_fit, y_fit)
        return model.score(X_test, y_test), model.subclass_weight_

    no_teacher = {"teacher": LogisticRegression(), "alpha": 0.0}  # never fitted
    row["all labels"], _ = student(X_train, y_train, **no_teacher)
    row["labelled subset only"], _ = student(X_lab, y_lab, **no_teacher)
    for kind, model in (("conventional", conv_teacher), ("subclass", sub_teacher)):
        row[kind], row[f"{kind} subclass_weight_"] = student(
            X_train, y_partial, teacher=FrozenEstimator(model)
        )
    for t in args.temperatures:
        row[f"subclass, split, T={t:g}"], _ = student(
            X_train, y_partial, teacher=FrozenEstimator(sub_teacher),
            subclass_weight=1.0, temperature=t,
        )  # fmt: skip
    return row


def table(rows, temperatures):
    low = np.array([r["labelled subset only"] for r in rows])
    high = np.array([r["all labels"] for r in rows])
    body = []
    for name in variants(temperatures):
        values = np.array([r[name] for r in rows])
        gain = values - low
        # Share of the gap between the labelled-subset and all-labels students
        # that the unlabelled rows close, from the mean accuracies.
        closed = (values.mean() - low.mean()) / (high.mean() - low.mean())
        body.append(
            [
                name,
                mean_std(values),
                f"{gain.mean():+.4f} ({(gain > 0).sum()}/{(gain < 0).sum()})",
                f"{closed:.0%}",
            ]
        )
    for name in ("teacher conventional", "teacher subclass", "recovery"):
        label = "subclass teacher's recovery" if name == "recovery" else name
        body.append([f"*{label}*", mean_std([r[name] for r in rows]), "", ""])
    return markdown_table(
        [
            "student",
            "test accuracy",
            "- labelled only (wins/losses)",
            "gap to all labels closed",
        ],
        body,
    )


def plot(results, temperatures):
    names = variants(temperatures)
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5))
    axes = np.atleast_1d(axes)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (dataset, rows) in zip(axes, results.items(), strict=True):
        means = [np.mean([r[n] for r in rows]) for n in names]
        stds = [np.std([r[n] for r in rows]) for n in names]
        bar_colors = [colors[0], colors[1], colors[2]] + [colors[3]] * (len(names) - 3)
        ax.bar(range(len(names)), means, yerr=stds, capsize=3, color=bar_colors)
        for value, style, label in (
            (means[0], "--", "all labels"),
            (means[1], ":", "labelled subset only"),
        ):
            ax.axhline(value, color="k", ls=style, lw=1, label=label)
        low = min(m - s for m, s in zip(means, stds, strict=True))
        ax.set_ylim(max(0.0, low - 0.05), 1.0)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds (default: 10)")
    parser.add_argument(
        "--n-labelled",
        type=int,
        default=100,
        help="labelled training rows (default: 100)",
    )
    parser.add_argument(
        "--temperatures",
        type=float,
        nargs="+",
        default=[1.0, 4.0],
        help="student temperatures (default: 1 4)",
    )
    parser.add_argument(
        "--teacher-steps",
        type=int,
        default=1000,
        help="teacher optimiser steps (default: 1000)",
    )
    parser.add_argument(
        "--student-steps",
        type=int,
        default=1000,
        help="optimiser steps of every student (default: 1000)",
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
        args.seeds, args.n_samples = 1, 600
        args.teacher_steps = args.student_steps = 40

    timer = Timer()
    results = {}
    for name, X, y, hidden in datasets(args.n_samples):
        print(f"== {name}", flush=True)
        results[name] = [
            run_seed(X, y, hidden, seed, args) for seed in range(args.seeds)
        ]
        print(table(results[name], args.temperatures), f"[{timer():.0f} s]", flush=True)

    chosen = sorted(
        {r[f"{kind} subclass_weight_"] for rows in results.values() for r in rows
         for kind in DISTILLED}
    )  # fmt: skip
    description = f"""
Each seed: a stratified 70/30 train/test split, then {args.n_labelled}
labelled training rows (stratified); the other training rows are given
unlabelled (`y=-1`: distillation term only). Teachers (`MLP(256, 256)`
networks) are fitted on the {args.n_labelled} labelled rows for about
{args.teacher_steps} Adam steps (batch 256: one step per epoch) and passed as
`FrozenEstimator`: the subclass teacher at the package's defaults (a class
network and a subclass network), the conventional teacher its twin with
`n_subclasses=1, aux_weight=0`. The subclass teacher's class network gets
nothing of the subclass network's loss, so with the same seed it is the
conventional teacher's network. Every student is an `MLP(32)` with about
{args.student_steps} Adam steps (batch 256, lr 1e-3), at the package's
student defaults (`alpha=0.5`, `temperature=1`, `subclass_weight="auto"`)
but for the split students (`subclass_weight=1` at the temperature named);
the two references have `alpha=0` and no teacher. With unlabelled rows
`"auto"` does not choose: it distils conventionally (`subclass_weight_` of
the `conventional` and `subclass` students: {chosen}), so the `subclass`
student learns the subclass teacher's class probabilities, which are the
conventional teacher's. "- labelled only" is the accuracy gain over the
labelled-subset-only student (seeds won/lost); "gap closed" is
(mean - labelled-only mean) / (all-labels mean - labelled-only mean).
Mean ± std over {args.seeds} seeds.
"""
    parts = [header("Transfer study", description, timer(), package_defaults())]
    for name, rows in results.items():
        parts += [f"## {name}", "", table(rows, args.temperatures), ""]
    write_results(
        "transfer",
        "\n".join(parts),
        plot(results, args.temperatures),
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
