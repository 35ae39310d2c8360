"""Click-through learning curves: does the subclass student learn faster?

``make_clickthrough`` gives binary click data (5% positives) whose clicks
depend on hidden user segments. For each seed (a stratified train/test split)
two teachers are fitted once on the training rows: a subclass teacher
(``--subclasses`` subclasses per class) and a conventional one (1 subclass,
``aux_weight=0``), both with early stopping on a validation split of the
training rows. Every option of the teachers and students defaults to the
package's default (read from the estimators' ``get_params()``); the output
files are named ``clickthrough`` plus a suffix for each option that differs
from it, e.g. ``clickthrough_T4_s5.md``. Three students with the same small
network are then trained on the same training rows (labels only,
conventional and subclass distillation), and a skorch callback records their
test log-loss and ROC AUC after every epoch. With the default
``subclass_weight="auto"`` the subclass student fits up to three candidates
on each of four folds of the rows (and, where they keep a split, a teacher
and up to three candidates more per fold) and refits the one chosen; the
curves are the refit's.

``--class-weight balanced`` fits every teacher and student with
``class_weight="balanced"``; ``benchmarks/clickthrough_class_weight.py``
compares that with the unweighted study.

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/clickthrough.py
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/clickthrough.py --quick
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
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from sklearn_subdistill import (  # noqa: E402
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill.datasets import make_clickthrough  # noqa: E402
from sklearn_subdistill.losses import class_logits  # noqa: E402
from sklearn_subdistill.metrics import subclass_recovery_score  # noqa: E402

METHODS = ("labels only", "conventional", "subclass")
STUDENT = {"hidden_layer_sizes": (32,)}
#: The package's defaults, which the options default to and the output names
#: are measured against.
TEACHER_DEFAULTS = SubclassTeacherClassifier().get_params()
STUDENT_DEFAULTS = SubclassDistilledStudent().get_params()


def weight_or_auto(text):
    """``--subclass-weight``: ``"auto"`` or a number."""
    return text if text == "auto" else float(text)


def weight_text(weight):
    """A ``subclass_weight`` as the results name it: ``auto``, ``0.3``."""
    return weight if weight == "auto" else f"{weight:g}"


class TestMetrics(Callback):
    """Records test log-loss, ROC AUC, recall of the positives (at
    probability 0.5, ``predict``'s threshold) and the mean predicted
    probability in the history after every epoch.

    The student's outputs are subclass logits; the class probabilities are
    their softmax summed over each class's block, i.e. the softmax of
    ``class_logits``.
    """

    def __init__(self, X, y, n_classes=2):
        self.X = X
        self.y = y
        self.n_classes = n_classes

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        was_training = module.training
        module.eval()
        with torch.no_grad():
            z = module(torch.as_tensor(self.X, device=net.device)).double()
            proba = F.softmax(class_logits(z, self.n_classes), dim=1)[:, 1]
        module.train(was_training)
        proba = proba.cpu().numpy()
        for name, value in _metrics(self.y, proba).items():
            net.history.record(f"test_{name}", value)


def _metrics(y, proba):
    """Test metrics of the positive-class probabilities ``proba``."""
    return {
        "log_loss": log_loss(y, proba),
        "auc": roc_auc_score(y, proba),
        "recall": float(np.mean(proba[y == 1] > 0.5)),
        "mean_proba": float(np.mean(proba)),
    }


def run_seed(X, y, segment, seed, args, class_weight=None):
    """One split: both teachers, then the three students (``class_weight``
    for all of them: None or "balanced")."""
    X_train, X_test, y_train, y_test, _, segment_test = train_test_split(
        X, y, segment, test_size=0.3, random_state=seed, stratify=y
    )
    teacher = {
        "device": "cpu",
        "random_state": seed,
        "max_epochs": args.teacher_epochs,
        "early_stopping": True,
        "n_iter_no_change": 5,
        "class_weight": class_weight,
    }
    sub_teacher = SubclassTeacherClassifier(
        n_subclasses=args.subclasses,
        aux_weight=args.aux_weight,
        subclass_head=args.subclass_head,
        aux_loss=args.aux_loss,
        aux_scope=args.aux_scope,
        **teacher,
    )
    sub_teacher.fit(X_train, y_train)
    conv_teacher = SubclassTeacherClassifier(n_subclasses=1, aux_weight=0.0, **teacher)
    conv_teacher.fit(X_train, y_train)
    result = {"seed": seed}
    for name, model in (("subclass", sub_teacher), ("conventional", conv_teacher)):
        proba = model.predict_proba(X_test)[:, 1]
        result[f"teacher {name}"] = {
            **_metrics(y_test, proba),
            "epochs": model.n_iter_,
        }
    result["recovery"] = subclass_recovery_score(
        segment_test, sub_teacher.predict_subclass(X_test)
    )
    result["subclasses used"] = len(np.unique(sub_teacher.predict_subclass(X_test)))
    teachers = {
        "labels only": LogisticRegression(),  # never fitted: alpha=0
        "conventional": FrozenEstimator(conv_teacher),
        "subclass": FrozenEstimator(sub_teacher),
    }
    for method in METHODS:
        student = SubclassDistilledStudent(
            teacher=teachers[method],
            alpha=0.0 if method == "labels only" else STUDENT_DEFAULTS["alpha"],
            temperature=args.temperature,
            subclass_weight=args.subclass_weight,
            max_epochs=args.epochs,
            device="cpu",
            random_state=seed,
            class_weight=class_weight,
            callbacks=[("test_metrics", TestMetrics(X_test, y_test))],
            **STUDENT,
        ).fit(X_train, y_train)
        result[method] = {
            metric: np.array(student.history_[:, f"test_{metric}"])
            for metric in ("log_loss", "auc", "recall", "mean_proba")
        }
        result[method]["subclass_weight_"] = float(student.subclass_weight_)
    return result


def curves(results, method, metric):
    return np.array([r[method][metric] for r in results])  # (n_seeds, n_epochs)


def tables(results, epochs):
    n_epochs = len(results[0]["labels only"]["log_loss"])
    shown = sorted({e for e in epochs if e <= n_epochs} | {n_epochs})
    out = []
    for metric, label, better in (
        ("log_loss", "Test log-loss (lower is better)", np.argmin),
        ("auc", "Test ROC AUC (higher is better)", np.argmax),
    ):
        body = []
        for method in METHODS:
            c = curves(results, method, metric)
            cells = [method] + [mean_std(c[:, e - 1]) for e in shown]
            best = int(better(c.mean(axis=0)))
            cells.append(f"{c.mean(axis=0)[best]:.4f} (epoch {best + 1})")
            body.append(cells)
        # Bold the best student at every shown epoch.
        for j, e in enumerate(shown):
            means = [curves(results, m, metric)[:, e - 1].mean() for m in METHODS]
            body[int(better(means))][j + 1] = f"**{body[int(better(means))][j + 1]}**"
        for name in ("conventional", "subclass"):
            value = mean_std([r[f"teacher {name}"][metric] for r in results])
            body.append([f"*teacher {name}*", *[""] * len(shown), value])
        out.append(
            f"### {label}\n\n"
            + markdown_table(
                [
                    "student",
                    *[f"epoch {e}" for e in shown],
                    "best of mean curve; teachers",
                ],
                body,
            )
        )
    return "\n\n".join(out)


def catch_up(results):
    """First epoch at which each student's mean curve reaches the labels-only
    student's best mean value (log-loss and AUC)."""
    body = []
    for metric, better in (("log_loss", np.less_equal), ("auc", np.greater_equal)):
        reference = curves(results, "labels only", metric).mean(axis=0)
        target = reference.min() if metric == "log_loss" else reference.max()
        cells = [metric]
        for method in METHODS:
            mean = curves(results, method, metric).mean(axis=0)
            hit = np.flatnonzero(better(mean, target))
            cells.append(str(hit[0] + 1) if len(hit) else "never")
        body.append(cells)
    return markdown_table(["metric", *METHODS], body)


def plot(results):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    n_epochs = len(results[0]["labels only"]["log_loss"])
    epochs = np.arange(1, n_epochs + 1)
    for ax, metric, title in (
        (axes[0], "log_loss", "test log-loss (lower is better)"),
        (axes[1], "auc", "test ROC AUC (higher is better)"),
    ):
        for method in METHODS:
            c = curves(results, method, metric)
            mean, std = c.mean(axis=0), c.std(axis=0)
            ax.plot(epochs, mean, label=f"student: {method}")
            ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, lw=0)
            ax.set_xlabel("student epoch")
        for name, style in (("subclass", ":"), ("conventional", "-.")):
            value = np.mean([r[f"teacher {name}"][metric] for r in results])
            ax.axhline(value, color="gray", ls=style, label=f"teacher {name}")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    # Zoom on the interesting range: ignore the first epoch's transient.
    for ax, metric in ((axes[0], "log_loss"), (axes[1], "auc")):
        values = np.concatenate(
            [curves(results, m, metric).mean(axis=0)[1:] for m in METHODS]
        )
        if len(values):
            pad = 0.1 * (values.max() - values.min() + 1e-9)
            ax.set_ylim(values.min() - pad, values.max() + pad)
    fig.suptitle(
        f"make_clickthrough: students' learning curves, mean ± std over "
        f"{len(results)} seeds",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def build_parser(description=__doc__):
    """The study's options (shared with clickthrough_class_weight.py)."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds (default: 5)")
    parser.add_argument(
        "--n-samples", type=int, default=30000, help="rows (default: 30000)"
    )
    parser.add_argument(
        "--epochs", type=int, default=30, help="student epochs (default: 30)"
    )
    parser.add_argument(
        "--teacher-epochs",
        type=int,
        default=100,
        help="teachers' maximum epochs, with early stopping (default: 100)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=STUDENT_DEFAULTS["temperature"],
        help="distillation temperature of the students (default: %(default)g, "
        "the estimator's; the paper used 4; other values write "
        "clickthrough_T<t>.*)",
    )
    parser.add_argument(
        "--aux-weight",
        type=float,
        default=TEACHER_DEFAULTS["aux_weight"],
        help="aux_weight of the subclass teacher (default: %(default)g, the "
        "estimator's; other values write clickthrough_..._aux<w>.*)",
    )
    parser.add_argument(
        "--subclass-head",
        default=TEACHER_DEFAULTS["subclass_head"],
        choices=["shared", "detached", "separate"],
        help="the subclass teacher's subclass_head (default: %(default)s, the "
        "estimator's; shared is the paper's network; others write "
        "clickthrough_..._<head>.*)",
    )
    parser.add_argument(
        "--aux-scope",
        default=TEACHER_DEFAULTS["aux_scope"],
        choices=["all", "within"],
        help="the subclass teacher's aux_scope (default: %(default)s, the "
        "estimator's; the other writes clickthrough_..._<scope>.*)",
    )
    parser.add_argument(
        "--aux-loss",
        default=TEACHER_DEFAULTS["aux_loss"],
        choices=["contrastive", "information"],
        help="the subclass teacher's aux_loss (default: %(default)s, the "
        "estimator's; contrastive is the paper's; the other writes "
        "clickthrough_..._<loss>.*)",
    )
    parser.add_argument(
        "--subclass-weight",
        type=weight_or_auto,
        default=STUDENT_DEFAULTS["subclass_weight"],
        help="the students' subclass_weight, auto or a number (default: "
        "%(default)s, the estimator's; 1 is the paper's loss; other values "
        "write clickthrough_..._sw<w>.*)",
    )
    parser.add_argument(
        "--subclasses",
        type=int,
        default=TEACHER_DEFAULTS["n_subclasses"],
        help="the subclass teacher's n_subclasses (default: %(default)s, the "
        "estimator's; others write clickthrough_..._s<k>.*)",
    )
    parser.add_argument(
        "--interactions",
        type=float,
        default=0.0,
        help="make_clickthrough's interactions (default: 0; others write "
        "clickthrough_..._int<x>.*)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny smoke run (< 1 minute)"
    )
    return parser


def quick(args):
    """``--quick``: a tiny smoke run."""
    if args.quick:
        args.seeds, args.n_samples, args.epochs, args.teacher_epochs = 1, 3000, 3, 3
    return args


def run_study(X, y, segment, args, class_weight, timer):
    """Every seed of the study with one ``class_weight`` (None or "balanced")."""
    results = []
    for seed in range(args.seeds):
        results.append(run_seed(X, y, segment, seed, args, class_weight))
        r = results[-1]
        print(
            f"seed {seed}, class_weight={class_weight}: teacher epochs sub/conv "
            f"{r['teacher subclass']['epochs']}/{r['teacher conventional']['epochs']}, "
            f"final AUC "
            + ", ".join(f"{m} {r[m]['auc'][-1]:.4f}" for m in METHODS)
            + f"; subclass student's subclass_weight_ "
            f"{r['subclass']['subclass_weight_']:g} [{timer():.0f} s]",
            flush=True,
        )
    return results


def describe(args, y, runs):
    """The settings paragraph; ``runs`` maps each class_weight to its results."""
    epochs = {
        f"{name}, class_weight={weight}": [
            r[f"teacher {name}"]["epochs"] for r in results
        ]
        for weight, results in runs.items()
        for name in ("subclass", "conventional")
    }
    recovery = {w: mean_std([r["recovery"] for r in rs]) for w, rs in runs.items()}
    used = {w: [r["subclasses used"] for r in rs] for w, rs in runs.items()}
    chosen = {
        w: [weight_text(r["subclass"]["subclass_weight_"]) for r in rs]
        for w, rs in runs.items()
    }
    teacher = TEACHER_DEFAULTS  # what the script leaves at the package's defaults
    student = STUDENT_DEFAULTS
    entropy = (
        f"\n`aux_entropy_weight={teacher['aux_entropy_weight']:g}`,"
        if args.aux_loss == "information"
        else ""
    )
    twin = (
        ""
        if args.subclass_head == "shared"
        else "The subclass teacher's class network gets nothing of the subclass "
        "network's loss, so with the same seed it trains exactly as the "
        "conventional teacher (the two teacher rows coincide); what the "
        "students can learn from it beyond the conventional teacher is its "
        "subclass network's split. "
    )
    return f"""
`make_clickthrough(n_samples={args.n_samples}, positive_rate=0.05,
interactions={args.interactions:g}, random_state=0)` (positive rate in the
data: {y.mean():.4f}); each seed is a stratified 70/30 train/test split.
Teachers: default `MLP(256, 256)`, subclass teacher with
`n_subclasses={args.subclasses}`, `aux_weight={args.aux_weight:g}`,
`aux_temperature={teacher["aux_temperature"]:g}`,{entropy}
`subclass_temperature={teacher["subclass_temperature"]:g}`,
`subclass_head="{args.subclass_head}"`, `aux_loss="{args.aux_loss}"`,
`aux_scope="{args.aux_scope}"`, `class_mass="{teacher["class_mass"]}"`,
conventional teacher with `n_subclasses=1, aux_weight=0`; both trained on the
training rows with `early_stopping=True` (10% of the training rows held out,
patience 5 epochs, at most {args.teacher_epochs} epochs; epochs run: {epochs}).
Students: `MLP(32)`, batch 256, lr 1e-3, `temperature={args.temperature:g}`,
`alpha={student["alpha"]:g}`, `subclass_weight={weight_text(args.subclass_weight)}`
(labels only: `alpha=0`), trained on all training rows for {args.epochs}
epochs; test metrics recorded after every epoch by a skorch callback
(with `"auto"`, the refit's, on all training rows, after the candidates on
four folds of them, a split kept only with a 2% lower log-loss: 0 is
conventional distillation at the student's temperature, 1 the paper's loss
at temperature 4 on the teacher's subclass distribution or on its split
`predict_proba`). The subclass student's
`subclass_weight_` per seed: {chosen}.
{twin}`class_weight` of every teacher and student: {list(runs)}. Mean ±
std over {args.seeds} seeds. The subclass teacher's
recovery of the 8 hidden segments on the test rows ({2 * args.subclasses}
subclasses, 2 classes of {args.subclasses}; one-to-one matching): {recovery};
subclasses it uses on the test rows: {used}.
"""


def learning_curves(args, y, results, timer, class_weight):
    """The learning-curve report of one ``class_weight``."""
    description = describe(args, y, {class_weight: results})
    return [
        header(
            "Click-through learning curves",
            description,
            timer(),
            package_defaults(),
        ),
        "The best student at each epoch is in bold. Teacher rows give the "
        "teachers' own test metrics.",
        "",
        tables(results, epochs=(1, 2, 5, 10, 20)),
        "",
        "### First epoch at which the mean curve reaches the labels-only "
        "student's best",
        "",
        catch_up(results),
    ]


def result_name(args):
    """``clickthrough``, with a suffix for each setting that differs from the
    package's defaults (or from the data's: no interactions)."""
    teacher, student = TEACHER_DEFAULTS, STUDENT_DEFAULTS
    suffixes = (
        (args.temperature != student["temperature"], f"_T{args.temperature:g}"),
        (args.aux_weight != teacher["aux_weight"], f"_aux{args.aux_weight:g}"),
        (args.subclass_head != teacher["subclass_head"], f"_{args.subclass_head}"),
        (args.aux_scope != teacher["aux_scope"], f"_{args.aux_scope}"),
        (args.aux_loss != teacher["aux_loss"], f"_{args.aux_loss}"),
        (args.interactions != 0, f"_int{args.interactions:g}"),
        (
            args.subclass_weight != student["subclass_weight"],
            f"_sw{weight_text(args.subclass_weight)}",
        ),
        (args.subclasses != teacher["n_subclasses"], f"_s{args.subclasses}"),
    )
    return "clickthrough" + "".join(suffix for differs, suffix in suffixes if differs)


def load_data(args):
    X, y, segment = make_clickthrough(
        n_samples=args.n_samples, positive_rate=0.05,
        interactions=args.interactions, random_state=0,
    )  # fmt: skip
    return X.astype(np.float32), y, segment


def main(argv=None):
    parser = build_parser()
    parser.add_argument(
        "--class-weight",
        default="none",
        choices=["none", "balanced"],
        help="class_weight of the teachers and students (default: none; "
        "balanced writes clickthrough_..._balanced.*)",
    )
    args = quick(parser.parse_args(argv))
    timer = Timer()
    X, y, segment = load_data(args)
    weight = None if args.class_weight == "none" else args.class_weight
    results = run_study(X, y, segment, args, weight, timer)
    name = result_name(args)
    if weight is not None:
        name += f"_{weight}"
    parts = learning_curves(args, y, results, timer, args.class_weight)
    write_results(name, "\n".join(parts), plot(results), quick=args.quick)


if __name__ == "__main__":
    main()
