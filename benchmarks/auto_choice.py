"""What ``subclass_weight="auto"`` sees, against what the test rows say.

On the paper-protocol split (``benchmarks/paper_protocol.py``: 70/30,
features standardised, the teacher early-stopped and fitted on *all*
training rows), for each seed and labelled fraction: each candidate of
``"auto"`` (``sklearn_subdistill._selection.AUTO_CANDIDATES``) is scored as
``"auto"`` scores it, by 4-fold cross-validation on the labelled rows
(temperature-scaled log-loss of the pooled out-of-fold probabilities, and
the mean per-fold test metric of those students), and, fitted on all
labelled rows, on the test rows. Where the two disagree, ``"auto"`` chooses
on evidence the test rows contradict. The held-out folds are rows the
teacher was fitted on; the test rows are not. With ``--teacher-unseen`` the
teacher is fitted on the other training rows only, so that the held-out
folds are new to it too (``auto_choice_teacher_unseen.md``).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/auto_choice.py --n-jobs 2
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/auto_choice.py --quick
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Timer, header, package_defaults, pin_threads, write_results

pin_threads(1)

import numpy as np  # noqa: E402
from _study import _split, epochs_for_steps, score  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from paper_protocol import DATASETS, load  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_subdistill import (  # noqa: E402
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill._selection import (  # noqa: E402
    AUTO_CANDIDATES,
    _folds,
    choose,
    scaled_log_loss,
)


def one_run(name, seed, fraction, student_steps=500, teacher_unseen=False):
    """Each candidate's cross-validated scores and test score, one seed; with
    ``teacher_unseen`` the teacher is fitted without the labelled rows."""
    X, y, hidden, groups, metric, _ = load(name)
    train, test = _split(X, y, hidden, groups, seed, 0.3)
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train]).astype(np.float32)
    X_test = scaler.transform(X[test]).astype(np.float32)
    y_train, y_test = y[train], y[test]
    labelled, others = train_test_split(
        np.arange(len(y_train)), train_size=fraction, random_state=seed,
        stratify=y_train,
    )  # fmt: skip
    teacher_rows = others if teacher_unseen else np.arange(len(y_train))
    teacher = SubclassTeacherClassifier(
        device="cpu", random_state=seed, early_stopping=True
    ).fit(X_train[teacher_rows], y_train[teacher_rows])
    X_lab, y_lab = X_train[labelled], y_train[labelled]
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), hidden_layer_sizes=(32,), device="cpu",
        random_state=seed, max_epochs=epochs_for_steps(len(y_lab), 256, student_steps),
    )  # fmt: skip
    folds = list(_folds(y_lab, seed))
    out = {}
    for candidate, (weight, temperature, class_mass) in AUTO_CANDIDATES.items():
        model = clone(student).set_params(
            subclass_weight=weight,
            temperature=temperature or student.temperature,
            class_mass=class_mass or student.class_mass,
        )
        proba = np.empty((len(y_lab), len(teacher.classes_)))
        fold_scores = []
        for fit_rows, held in folds:
            model.fit(X_lab[fit_rows], y_lab[fit_rows])
            proba[held] = model.predict_proba(X_lab[held])
            fold_scores.append(score(y_lab[held], proba[held], metric))
        model.fit(X_lab, y_lab)
        out[candidate] = {
            "cv log-loss": scaled_log_loss(y_lab, proba, teacher.classes_),
            "cv score": float(np.mean(fold_scores)),
            "test score": score(y_test, model.predict_proba(X_test), metric),
        }
    chosen = choose({c: r["cv log-loss"] for c, r in out.items()})
    return {"data": name, "seed": seed, "fraction": fraction, "chosen": chosen,
            "candidates": out}  # fmt: skip


def table(runs):
    """One line per run: each candidate's CV log-loss, CV score and test
    score (in %), the choice, and the test points it cost against the best
    candidate on the test rows."""
    names = list(AUTO_CANDIDATES)
    head = ["data", "labelled", "seed"]
    for candidate in names:
        head += [f"{candidate}: CV log-loss", "CV score", "test"]
    head += ["chosen", "test cost of the choice"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [run["data"], f"{run['fraction']:.0%}", str(run["seed"])]
        results = run["candidates"]
        for candidate in names:
            r = results[candidate]
            cells += [f"{r['cv log-loss']:.4f}", f"{100 * r['cv score']:.2f}",
                      f"{100 * r['test score']:.2f}"]  # fmt: skip
        best = max(r["test score"] for r in results.values())
        cost = 100 * (best - results[run["chosen"]]["test score"])
        cells += [run["chosen"], f"{cost:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(runs):
    """Per data set and fraction: how often the CV ranking of conventional
    against the best split agreed with the test ranking, and the mean cost."""
    lines = ["| data | labelled | runs | CV and test agree on split vs "
             "conventional | mean test cost of the choice (points) |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    keys = sorted({(r["data"], r["fraction"]) for r in runs}, key=str)
    for name, fraction in keys:
        group = [r for r in runs if r["data"] == name and r["fraction"] == fraction]
        agree, costs = 0, []
        for run in group:
            results = run["candidates"]
            split = [c for c in results if c != "conventional"]
            cv_split = min(split, key=lambda c: results[c]["cv log-loss"])
            cv_says = (
                results[cv_split]["cv log-loss"]
                < results["conventional"]["cv log-loss"]
            )
            test_says = (
                results[cv_split]["test score"] > results["conventional"]["test score"]
            )
            agree += cv_says == test_says
            best = max(r["test score"] for r in results.values())
            costs.append(100 * (best - results[run["chosen"]]["test score"]))
        lines.append(f"| {name} | {fraction:.0%} | {len(group)} | {agree} of "
                     f"{len(group)} | {np.mean(costs):.2f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", nargs="*", choices=list(DATASETS), default=list(DATASETS),
        help="data sets (default: all)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument(
        "--teacher-unseen", action="store_true",
        help="fit the teacher without the labelled rows",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    timer = Timer()
    jobs = [
        (name, seed, fraction)
        for name in args.data
        for fraction in DATASETS[name][2][: 1 if args.quick else None]
        for seed in range(1 if args.quick else args.seeds)
    ]
    steps = 20 if args.quick else 500
    runs = Parallel(n_jobs=args.n_jobs)(
        delayed(one_run)(*job, student_steps=steps, teacher_unseen=args.teacher_unseen)
        for job in jobs
    )
    teacher_rows = (
        "the training rows other than the labelled ones (`--teacher-unseen`: the "
        "held-out folds are new to the teacher too)"
        if args.teacher_unseen
        else "all training rows (the held-out folds are rows it was fitted on; the "
        "test rows are not)"
    )
    description = f"""
What `subclass_weight="auto"` sees against what the test rows say, on the
split of the paper-protocol study: the default teacher (`early_stopping=True`)
fitted on {teacher_rows}, `MLP(32)` students with about 500 Adam steps
on the labelled fraction alone. For each candidate: `CV log-loss`, the
temperature-scaled log-loss of its pooled out-of-fold probabilities over 4
folds of the labelled rows (what `"auto"` compares, keeping a split only
where it is 2% below conventional's); `CV score`, the mean test metric of
the fold students on their held-out fold (ROC AUC for tables, accuracy
for images, %); `test`, the candidate fitted on all labelled rows, on the
test rows (%).
"""
    parts = [
        header("What auto sees", description, timer(), settings=package_defaults()),
        "## Summary",
        "",
        summary(runs),
        "",
        "## Every run",
        "",
        table(runs),
    ]
    name = "auto_choice_teacher_unseen" if args.teacher_unseen else "auto_choice"
    write_results(name, "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
