"""Paper-protocol study on real data: which teacher gives the best small student?

For each data set and seed (a 70/30 train/test split, stratified, or by member
for Heritage Health; features standardised on the training rows), the
teachers are fitted on *all* training rows (early stopping holds out a tenth
of them and keeps the best epoch): the 1-subclass twin
(``conventional``), the package's default subclass teacher (``subclass``) and
the paper's single network (``subclass_head="shared", aux_loss="contrastive"``);
``EmbeddingSubclassTeacher`` splits the twin's classes. Students (``MLP(32)``)
learn from a labelled fraction of the training rows, alone ("low data") or
with the other training rows unlabelled ("transfer"), next to
scikit-learn's ``MLPClassifier(32)`` trained to convergence,
``HistGradientBoostingClassifier`` and ``LogisticRegression`` on the same
labelled rows (``benchmarks/_study.py``).

Data (``benchmarks/_data.py``; fetch once with ``python benchmarks/_data.py
--fetch``): Fashion-MNIST 0-4 vs 5-9 (30,000 images drawn from the 70,000;
the 10 classes are hidden), digits 0-4 vs 5-9, Adult, Heritage Health (40,000
rows drawn by member), Law school and Stop-question-frisk (ROC AUC).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/paper_protocol.py --n-jobs 2
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/paper_protocol.py --quick
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    Timer,
    default_settings,
    header,
    pin_threads,
    write_results,
)

pin_threads(1)

import _data  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _study import (  # noqa: E402
    BASELINES,
    REGIMES,
    STUDENTS,
    TEACHERS,
    difference_table,
    paper_protocol_study,
    summary_table,
)

#: name: (loader, metric, labelled fractions, at most this many rows)
DATASETS = {
    "Fashion-MNIST 0-4 vs 5-9": (
        lambda: _data.load_fashion_mnist_2x5(n_train=30000),
        "accuracy",
        (0.01, 0.05),
        None,
    ),
    "digits 0-4 vs 5-9": (_data.load_digits_2x5, "accuracy", (0.05, 0.2), None),
    "Adult (ROC AUC)": (_data.load_adult, "roc_auc", (0.05, 0.2), None),
    "Heritage Health (ROC AUC)": (_data.load_health, "roc_auc", (0.05, 0.2), 40000),
    "Law school (ROC AUC)": (_data.load_law, "roc_auc", (0.05, 0.2), None),
    "Stop-question-frisk (ROC AUC)": (_data.load_sqf, "roc_auc", (0.05, 0.2), None),
}
#: Students compared with conventional distillation and labels only.
PAIRED = ("subclass", "subclass, split always", "paper's method", "embedding",
          *BASELINES)  # fmt: skip


def load(name, seed=0, datasets=DATASETS):
    """``(X, y, hidden, groups, metric, fractions)`` of a data set of
    ``datasets``, rows drawn (by group where there are groups) down to its
    maximum."""
    loader, metric, fractions, max_rows = datasets[name]
    X, y, hidden, groups = loader()
    if max_rows is not None and len(y) > max_rows:
        rng = np.random.default_rng(seed)
        if groups is None:
            keep = rng.permutation(len(y))[:max_rows]
        else:
            members = np.unique(groups)
            chosen = rng.permutation(members)[: len(members) * max_rows // len(y)]
            keep = np.flatnonzero(np.isin(groups, chosen))
        X, y = X[keep], y[keep]
        hidden = None if hidden is None else hidden[keep]
        groups = None if groups is None else groups[keep]
    return X, y, hidden, groups, metric, fractions


def teacher_table(rows):
    """One line per teacher: test score (and its difference from the twin,
    paired over seeds) and, where hidden groups are known, their recovery."""
    per_seed = list({r["seed"]: r for r in rows}.values())
    names = [k.removeprefix("teacher ") for k in rows[0] if k.startswith("teacher ")]
    names += ["embedding"]
    lines = [
        "| teacher | test score | minus the twin | recovery (one-to-one) "
        "| recovery (many-to-one) |",
        "|:---|---:|---:|---:|---:|",
    ]

    def cell(key, against=None):
        if key not in per_seed[0]:
            return ""
        values = 100 * np.array([r[key] for r in per_seed])
        if against is not None:
            values = values - 100 * np.array([r[against] for r in per_seed])
            return f"{values.mean():+.2f}"
        return f"{values.mean():.1f} ± {values.std():.1f}"

    for name in names:
        score, twin = f"teacher {name}", "teacher conventional"
        cells = [cell(score), cell(score, twin), cell(f"recovery {name}"),
                 cell(f"purity {name}")]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def choice_line(rows):
    """How often the default student distilled the split (weight 1), per line."""
    parts = []
    for regime in REGIMES:
        for fraction in sorted({r["fraction"] for r in rows}):
            group = [
                r for r in rows if (r["regime"], r["fraction"]) == (regime, fraction)
            ]
            split = [r for r in group if r["subclass weight chosen"] > 0]
            of_proba = sum(r.get("class mass chosen") == "predict_proba" for r in split)
            parts.append(
                f"{regime} {fraction:.0%}: {len(split)} of {len(group)}"
                + (f" ({of_proba} of them split `predict_proba`)" if of_proba else "")
            )
    return "Seeds where the default student chose the split: " + "; ".join(parts) + "."


def plot(results):
    fig, axes = plt.subplots(
        len(REGIMES), len(results), figsize=(3.6 * len(results), 6.5), squeeze=False
    )
    for j, (name, rows) in enumerate(results.items()):
        fractions = sorted({r["fraction"] for r in rows})
        for i, regime in enumerate(REGIMES):
            ax = axes[i, j]
            for column in (*STUDENTS, "HistGradientBoosting"):
                means = [
                    100 * np.mean([r[column] for r in rows
                                   if r["fraction"] == f and r["regime"] == regime])
                    for f in fractions
                ]  # fmt: skip
                ax.plot(fractions, means, marker="o", label=column,
                        ls="--" if column in BASELINES else "-")  # fmt: skip
            ax.set_xscale("log")
            ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
            ax.minorticks_off()
            ax.set_title(f"{name}\n{regime}", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=6)
    fig.supxlabel("labelled fraction of the training rows")
    fig.supylabel("test score, % (mean over seeds)")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--teacher-epochs", type=int, default=100,
        help="most epochs of a teacher (default: 100, the package's)",
    )  # fmt: skip
    parser.add_argument(
        "--no-teacher-early-stopping", dest="teacher_early_stopping",
        action="store_false",
        help="train teachers for all --teacher-epochs (the run archived as "
        "paper_protocol_teachers_30_epochs used 30 epochs without stopping)",
    )  # fmt: skip
    parser.add_argument("--student-steps", type=int, default=500)
    parser.add_argument(
        "--data", nargs="*", choices=list(DATASETS), default=list(DATASETS),
        help="data sets (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="seeds run in parallel processes"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument(
        "--from-json", type=Path, help="resume a saved run (or re-render its tables)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.teacher_epochs, args.student_steps = 1, 2, 20
    teacher_params = {
        "max_epochs": args.teacher_epochs,
        "early_stopping": args.teacher_early_stopping,
    }
    timer = Timer()
    results = json.loads(args.from_json.read_text()) if args.from_json else {}
    stem = "paper_protocol_quick" if args.quick else "paper_protocol"
    for name in args.data:
        if name in results:
            continue
        print(f"== {name}", flush=True)
        X, y, hidden, groups, metric, fractions = load(name)
        if args.quick:
            X, y = X[:1500], y[:1500]
            hidden = None if hidden is None else hidden[:1500]
            groups = None if groups is None else groups[:1500]
            fractions = fractions[-1:]
        results[name] = paper_protocol_study(
            X, y, hidden, groups, fractions=fractions, seeds=range(args.seeds),
            metric=metric, teacher_params=teacher_params,
            student_steps=args.student_steps, n_jobs=args.n_jobs,
        )  # fmt: skip
        print(summary_table(results[name]), flush=True)
        # After every data set, so that an interrupted run resumes (--from-json).
        (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=1))
    teacher_defaults, student_defaults = default_settings()
    teacher_training = (
        f"`early_stopping=True`: at most {args.teacher_epochs} epochs, stopped "
        "when the loss on 10% of their training rows has not fallen for 10 "
        "epochs, best epoch kept"
        if args.teacher_early_stopping
        else f"{args.teacher_epochs} epochs"
    )
    description = f"""
The paper's protocol on real data (`shared/DATA.md`). Teachers (`MLP(256, 256)`,
{teacher_training}) are fitted on all training rows; students are
`MLP(32)` networks with about {args.student_steps} Adam steps, trained on the
labelled fraction alone (**low data**) or with the other training rows
unlabelled, `y=-1` (**transfer**).

- Package defaults at this run: teacher {teacher_defaults}; student
  {student_defaults}.
- Students: `labels only` (`alpha=0`); `conventional` (the 1-subclass twin,
  student defaults); `subclass` (the package's defaults for both); `subclass,
  split always` (the same teacher, `subclass_weight=1, temperature=4` on its
  subclass distribution: a candidate `"auto"` may choose, taken every
  time); `paper's method`
  (teacher {TEACHERS["paper"]}, student `subclass_weight=1, temperature=4`,
  as in the paper's demo); `embedding`
  (`EmbeddingSubclassTeacher` of the twin, student defaults).
- Baselines on the same labelled rows: `MLPClassifier((32,), max_iter=2000)`,
  `HistGradientBoostingClassifier()`, `LogisticRegression(max_iter=2000)`.
- Scores: test accuracy, or ROC AUC for the tables, in %, mean ± std over
  {args.seeds} seeds; best student per line in bold. Differences are paired
  within a seed: mean ± standard error over seeds, in points.
- Recovery: `subclass_recovery_score` of the hidden classes by each teacher's
  subclasses, one-to-one (the paper's measure; the teachers at
  `n_subclasses=5`, the number of classes hidden in each) and many-to-one
  (purity; compare teachers of the same count).
"""
    seconds = timer()
    if args.from_json:  # the saved run's own time: each seed's, once
        seconds = sum(
            {(name, r["seed"]): r["seconds"] for name, rows in results.items()
             for r in rows}.values()
        ) / (args.n_jobs or 1)  # fmt: skip
    parts = [header("Paper-protocol study on real data", description, seconds)]
    for name, rows in results.items():
        parts += [f"## {name}", "", f"{len(rows) // 4} seeds, "
                  f"{rows[0]['n_train']} training rows.", "", summary_table(rows),
                  "", choice_line(rows), "", "Teachers:", "", teacher_table(rows),
                  "", "Against conventional distillation:", "",
                  difference_table(rows, PAIRED), "", "Against labels only:", "",
                  difference_table(rows, ("subclass", "conventional"),
                                   against="labels only"), ""]  # fmt: skip
    write_results("paper_protocol", "\n".join(parts), plot(results), quick=args.quick)


if __name__ == "__main__":
    main()
