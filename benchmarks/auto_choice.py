"""What ``subclass_weight="auto"`` sees, against what the test rows say.

On the paper-protocol split (``benchmarks/paper_protocol.py``: 70/30,
features standardised, the teacher early-stopped and fitted on *all*
training rows), for each seed and labelled fraction, each candidate of
``"auto"`` (``sklearn_subdistill._selection.AUTO_CANDIDATES``) is scored as
``"auto"`` scores it, by 4-fold cross-validation on the labelled rows
(temperature-scaled log-loss of the pooled out-of-fold probabilities), twice:
its fold students distilling the teacher (which was fitted on the held-out
rows too), and distilling *fold teachers*, clones of the teacher fitted on
each fold's other labelled rows alone. Each candidate fitted on all labelled
rows is then scored on the test rows. Three rules are compared by what they
cost against conventional distillation on the test rows: the first scores
alone (``"auto"`` before 0.1.0's fold teachers), the second alone, and both
(``"auto"`` now: a split is kept only where both keep it).

Two data sets outside the study, credit-card default and COMPAS (same wheel
as Heritage Health), check the rule on data it was not chosen on.

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

import _data  # noqa: E402
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
    _fold_teachers,
    _folds,
    _scores,
    _sums_to_predict_proba,
    choose,
)

#: Real data sets outside the study (``_data.py``), to check the rule on:
#: ``(loader, metric, fractions, maximum rows)`` as in ``DATASETS``.
HELD_OUT = {
    "credit-card default (ROC AUC)": (
        _data.load_credit_card,
        "roc_auc",
        (0.05, 0.2),
        None,
    ),
    "COMPAS (ROC AUC)": (_data.load_compas, "roc_auc", (0.05, 0.2), None),
}
#: The rules compared: a name, and the chosen candidate from the scores with
#: the teacher and with fold teachers.
RULES = {
    "teacher's scores alone (before)": lambda seen, fresh: choose(seen),
    "fold teachers' alone": lambda seen, fresh: choose(fresh),
    "both (auto)": lambda seen, fresh: choose(seen, fresh),
}


def one_run(name, seed, fraction, student_steps=500):
    """Each candidate's cross-validated scores, with the teacher and with fold
    teachers, and its test score; one seed."""
    X, y, hidden, groups, metric, _ = load(name, datasets={**DATASETS, **HELD_OUT})
    train, test = _split(X, y, hidden, groups, seed, 0.3)
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train]).astype(np.float32)
    X_test = scaler.transform(X[test]).astype(np.float32)
    y_train, y_test = y[train], y[test]
    labelled, _ = train_test_split(
        np.arange(len(y_train)), train_size=fraction, random_state=seed,
        stratify=y_train,
    )  # fmt: skip
    teacher = SubclassTeacherClassifier(
        device="cpu", random_state=seed, early_stopping=True
    ).fit(X_train, y_train)
    X_lab, y_lab = X_train[labelled], y_train[labelled]
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), hidden_layer_sizes=(32,), device="cpu",
        random_state=seed, max_epochs=epochs_for_steps(len(y_lab), 256, student_steps),
    )  # fmt: skip
    # What select_subclass_weight does, with both scorings always made.
    rows = X_lab, y_lab, None, list(_folds(y_lab, seed)), teacher.classes_
    names = list(AUTO_CANDIDATES)
    if _sums_to_predict_proba(teacher, X_lab[:256]):
        names.remove("predict_proba")
    seen = _scores(student, rows, [teacher] * len(rows[3]), names)
    fresh = _scores(student, rows, _fold_teachers(student, teacher, rows), names)
    test_scores = {}
    for candidate in names:
        weight, temperature, class_mass = AUTO_CANDIDATES[candidate]
        model = clone(student).set_params(
            subclass_weight=weight,
            temperature=temperature or student.temperature,
            class_mass=class_mass or student.class_mass,
        )
        model.fit(X_lab, y_lab)
        test_scores[candidate] = score(y_test, model.predict_proba(X_test), metric)
    return {"data": name, "seed": seed, "fraction": fraction, "seen": seen,
            "fresh": fresh, "test": test_scores}  # fmt: skip


def table(runs):
    """One line per run: each candidate's CV log-loss with the teacher and
    with fold teachers, and its test score (%); what each rule chose."""
    names = list(AUTO_CANDIDATES)
    head = ["data", "labelled", "seed"]
    for candidate in names:
        head += [f"{candidate}: CV, teacher", "CV, fold teachers", "test"]
    head += ["chosen by " + rule for rule in RULES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        cells = [run["data"], f"{run['fraction']:.0%}", str(run["seed"])]
        for candidate in names:
            if candidate not in run["test"]:
                cells += ["-"] * 3
                continue
            cells += [f"{run['seen'][candidate]:.4f}", f"{run['fresh'][candidate]:.4f}",
                      f"{100 * run['test'][candidate]:.2f}"]  # fmt: skip
        cells += [rule(run["seen"], run["fresh"]) for rule in RULES.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gains(runs):
    """Per data set and fraction, each rule's test score minus conventional
    distillation's, mean ± standard error over seeds (points), and how often
    it kept a split."""
    head = ["data", "labelled", "runs"] + [
        f"{rule}: gain over conventional (split kept)" for rule in RULES
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|---:|---:" + "|---:" * len(RULES) + "|",
    ]
    keys = list(dict.fromkeys((r["data"], r["fraction"]) for r in runs))
    for name, fraction in keys:
        group = [r for r in runs if r["data"] == name and r["fraction"] == fraction]
        cells = [name, f"{fraction:.0%}", str(len(group))]
        for rule in RULES.values():
            chosen = [rule(r["seen"], r["fresh"]) for r in group]
            diff = 100 * np.array([
                r["test"][rule(r["seen"], r["fresh"])] - r["test"]["conventional"]
                for r in group
            ])  # fmt: skip
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
            kept = sum(c != "conventional" for c in chosen)
            cells.append(f"{diff.mean():+.2f} ± {se:.2f} ({kept})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    every = [*DATASETS, *HELD_OUT]
    parser.add_argument(
        "--data", nargs="*", choices=every, default=every,
        help="data sets (default: all, the study's and the held-out ones)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    timer = Timer()
    fractions = {name: spec[2] for name, spec in {**DATASETS, **HELD_OUT}.items()}
    jobs = [
        (name, seed, fraction)
        for name in args.data
        for fraction in fractions[name][: 1 if args.quick else None]
        for seed in range(1 if args.quick else args.seeds)
    ]
    steps = 20 if args.quick else 500
    runs = Parallel(n_jobs=args.n_jobs)(
        delayed(one_run)(*job, student_steps=steps) for job in jobs
    )
    description = """
What `subclass_weight="auto"` sees against what the test rows say, on the
split of the paper-protocol study: the default teacher (`early_stopping=True`)
fitted on all training rows (so on the labelled rows `"auto"` scores on, not
on the test rows), `MLP(32)` students with about 500 Adam steps on the
labelled fraction alone. `CV, teacher`: the temperature-scaled log-loss of
a candidate's pooled out-of-fold probabilities over 4 folds of the labelled
rows, its fold students distilling the teacher; `CV, fold teachers`: the
same, distilling a clone of the teacher fitted on the fold's other labelled
rows alone (so new to the held-out fold); `test`: the candidate fitted on
all labelled rows, on the test rows (ROC AUC for tables, accuracy for
images, %). A rule keeps a split only where its log-loss is 2% below
conventional's: with the teacher's scores alone (`"auto"` before fold
teachers), with the fold teachers' alone, or with both (`"auto"` now).
Credit-card default and COMPAS are outside the study: no setting of the
package was chosen on them.
"""
    parts = [
        header("What auto sees", description, timer(), settings=package_defaults()),
        "## Each rule against conventional distillation, on the test rows",
        "",
        gains(runs),
        "",
        "## Every run",
        "",
        table(runs),
    ]
    write_results("auto_choice", "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
