"""Click-through with class_weight="balanced" against unweighted training.

Runs the study of ``benchmarks/clickthrough.py`` twice on the same splits and
seeds: once unweighted, once with ``class_weight="balanced"`` for both
teachers and every student (the clicks, 5% of the rows, then weigh as much as
the non-clicks in every loss). It compares, per model, the test ROC AUC, the
recall of the clicks (the share of test clicks that ``predict`` calls clicks:
probability above 0.5), the log-loss and the mean predicted click
probability; students at their last epoch, teachers as early stopping left
them. The options are those of ``clickthrough.py``; the results go to
``benchmarks/results/clickthrough_class_weight.md`` (and ``.png``), with
``clickthrough.py``'s suffix for each option that differs from the package's
defaults.

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/clickthrough_class_weight.py
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/clickthrough_class_weight.py \\
        --quick

``results/archive/clickthrough_cw_T1_detached.md`` (the name this script
gave its results then) was made at earlier defaults
(5 subclasses, ``subclass_head="detached"``, the contrastive loss, the paper's
student loss); its settings are ``--subclass-head detached --aux-loss
contrastive --subclasses 5 --subclass-weight 1``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clickthrough
import matplotlib.pyplot as plt
import numpy as np
from _common import (
    Timer,
    header,
    markdown_table,
    mean_std,
    package_defaults,
    write_results,
)

#: The models compared, with the key of each in a result of ``run_seed``.
MODELS = [(f"teacher {n}", f"teacher {n}") for n in ("subclass", "conventional")] + [
    (f"student: {m}", m) for m in clickthrough.METHODS
]
METRICS = {
    "auc": "ROC AUC",
    "recall": "recall of clicks",
    "log_loss": "log-loss",
    "mean_proba": "mean P(click)",
}
WEIGHTS = {"none": None, "balanced": "balanced"}


def final_values(results, key, metric):
    """Per seed: a teacher's value, or a student's at its last epoch."""
    return np.array([np.atleast_1d(r[key][metric])[-1] for r in results])


def tables(runs):
    """Unweighted against balanced, per model: two tables of two metrics."""
    out = []
    for metrics in (("auc", "recall"), ("log_loss", "mean_proba")):
        head = ["model"] + [f"{METRICS[m]}, {w}" for m in metrics for w in runs]
        body = [
            [label]
            + [
                mean_std(final_values(results, key, m))
                for m in metrics
                for results in runs.values()
            ]
            for label, key in MODELS
        ]
        out.append(markdown_table(head, body))
    return "\n\n".join(out)


def differences(runs):
    """Balanced minus unweighted, seed by seed: mean ± std of the change."""
    body = []
    for label, key in MODELS:
        cells = [label]
        for metric in METRICS:
            change = final_values(runs["balanced"], key, metric) - final_values(
                runs["none"], key, metric
            )
            cells.append(mean_std(change))
        body.append(cells)
    return markdown_table(["model", *METRICS.values()], body)


def plot(runs):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(len(MODELS))
    width = 0.8 / len(runs)
    for ax, metric in zip(axes, ("auc", "recall"), strict=True):
        for i, (weight, results) in enumerate(runs.items()):
            values = [final_values(results, key, metric) for _, key in MODELS]
            ax.bar(
                x + (i - (len(runs) - 1) / 2) * width,
                [v.mean() for v in values],
                width,
                yerr=[v.std() for v in values],
                label=f"class_weight={weight}",
            )
        ax.set_xticks(x, [label for label, _ in MODELS], rotation=20, fontsize=8)
        ax.set_title(f"test {METRICS[metric]}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8, loc="upper left")
    lowest = min(
        final_values(results, key, "auc").mean()
        for results in runs.values()
        for _, key in MODELS
    )
    axes[0].set_ylim(lowest - 0.02, None)
    fig.suptitle(
        "make_clickthrough: unweighted against class_weight='balanced', mean ± "
        f"std over {len(runs['none'])} seeds",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def main(argv=None):
    args = clickthrough.quick(clickthrough.build_parser(__doc__).parse_args(argv))
    timer = Timer()
    X, y, segment = clickthrough.load_data(args)
    runs = {
        name: clickthrough.run_study(X, y, segment, args, weight, timer)
        for name, weight in WEIGHTS.items()
    }
    parts = [
        header(
            "Click-through: class_weight='balanced' against unweighted",
            clickthrough.describe(args, y, runs),
            timer(),
            package_defaults(),
        ),
        "Students at their last epoch, teachers as early stopping left them. "
        "Recall of clicks: the share of test clicks that `predict` calls clicks "
        f"(probability above 0.5). Share of clicks in the data: {y.mean():.4f}.",
        "",
        tables(runs),
        "",
        "### Change with class_weight='balanced' (balanced minus unweighted, "
        "seed by seed)",
        "",
        differences(runs),
    ]
    name = clickthrough.result_name(args).replace(
        "clickthrough", "clickthrough_class_weight", 1
    )
    write_results(name, "\n".join(parts), plot(runs), quick=args.quick)


if __name__ == "__main__":
    main()
