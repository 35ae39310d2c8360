"""python -m sklearn_subdistill: subclass distillation on digits, 0-4 vs 5-9.

Fits a subclass teacher on scikit-learn's digits collapsed to two classes and
shows how its invented subclasses line up with the digits; then, on the
paper's protocol (teachers on all training labels; MLP(32) students on a few
labels, alone or with the other rows unlabelled), prints the test accuracy
of students that learn from labels only, from the 1-subclass teacher
(conventional distillation), from the default subclass teacher (the package
defaults) and by the paper's method, beside scikit-learn's usual models
trained on the same labels. Its own run took 22 s on two CPU cores; --full
runs 5 seeds and two labelled fractions (202 s; benchmarks/main_job.py). The
study on real data is benchmarks/paper_protocol.py.
"""

import argparse
import math
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from . import __version__
from .datasets import load_digits_superclasses
from .metrics import subclass_recovery_score
from .student import SubclassDistilledStudent
from .teacher import SubclassTeacherClassifier

#: Students: (teacher, student parameters on top of the package defaults).
STUDENTS = {
    "labels only": ("conventional", {"alpha": 0.0}),
    "conventional": ("conventional", {}),
    "subclass": ("subclass", {}),
    "paper's method": ("paper", {"subclass_weight": 1.0, "temperature": 4.0}),
}
TEACHERS = {
    "conventional": {"n_subclasses": 1, "aux_weight": 0},
    "subclass": {},
    "paper": {"subclass_head": "shared", "aux_loss": "contrastive"},
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_subdistill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--full", action="store_true", help="5 seeds, 5%% and 20%% labelled"
    )
    parser.add_argument(
        "--subclasses", type=int, default=5,
        help="subclasses per class of the demonstration teacher, matched to the "
        "digits (default: 5, the digits of each class)",
    )  # fmt: skip
    parser.add_argument(
        "--teacher-epochs", type=int, default=40,
        help="epochs of every teacher (default: 40)",
    )  # fmt: skip
    parser.add_argument(
        "--student-steps", type=int, default=500,
        help="optimiser steps of every student (default: 500)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu, cuda, auto (default: cpu)"
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def _teacher_demo(X_train, X_test, y_train, y_test, digit_test, args):
    teacher = SubclassTeacherClassifier(
        n_subclasses=args.subclasses, max_epochs=args.teacher_epochs,
        device=args.device, random_state=0,
    ).fit(X_train, y_train)  # fmt: skip
    subclass = teacher.predict_subclass(X_test)
    print(f"Teacher test accuracy (0-4 vs 5-9): {teacher.score(X_test, y_test):.4f}")
    print(
        "Subclass recovery (best one-to-one subclass-to-digit matching, accuracy): "
        f"{subclass_recovery_score(digit_test, subclass):.4f}"
    )
    counts = contingency_matrix(digit_test, subclass)
    print("\nTest rows per digit (rows) and invented subclass (columns):")
    print("digit | " + " ".join(f"{k:>4}" for k in np.unique(subclass)))
    for d, line in zip(np.unique(digit_test), counts, strict=True):
        print(f"{d:>5} | " + " ".join(f"{c:>4}" for c in line))


def _epochs(steps, n_rows, batch_size=256):
    """Epochs that give about ``steps`` optimiser steps on ``n_rows`` rows."""
    return math.ceil(steps / math.ceil(n_rows / batch_size))


def _study_seed(X, y, seed, fractions, args):
    """Test accuracy of each student and baseline: {(regime, fraction): {name: acc}}."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=seed, stratify=y
    )
    device = args.device
    common = {"device": device, "random_state": seed, "max_epochs": args.teacher_epochs}
    teachers = {
        name: SubclassTeacherClassifier(**common, **params).fit(X_train, y_train)
        for name, params in TEACHERS.items()
    }
    scores = {}
    for fraction in fractions:
        labelled, _ = train_test_split(
            np.arange(len(y_train)), train_size=fraction, random_state=seed,
            stratify=y_train,
        )  # fmt: skip
        X_lab, y_lab = X_train[labelled], y_train[labelled]
        baselines = {
            "MLPClassifier": MLPClassifier((32,), max_iter=2000, random_state=seed),
            "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed),
            "LogisticRegression": LogisticRegression(max_iter=2000),
        }
        base = {
            n: m.fit(X_lab, y_lab).score(X_test, y_test) for n, m in baselines.items()
        }
        for regime in ("low data", "transfer"):
            X_fit, y_fit = X_lab, y_lab
            if regime == "transfer":
                X_fit = X_train
                y_fit = np.full(len(y_train), -1)
                y_fit[labelled] = y_lab
            line = scores.setdefault((regime, fraction), {})
            for name, (source, params) in STUDENTS.items():
                rows_X, rows_y = (
                    (X_lab, y_lab) if name == "labels only" else (X_fit, y_fit)
                )
                student = SubclassDistilledStudent(
                    teacher=FrozenEstimator(teachers[source]), hidden_layer_sizes=(32,),
                    max_epochs=_epochs(args.student_steps, len(rows_y)),
                    device=device, random_state=seed, **params,
                )  # fmt: skip
                line[name] = student.fit(rows_X, rows_y).score(X_test, y_test)
            line.update(base)
    return scores


def main(argv=None):
    """Run the demonstration; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if min(args.subclasses, args.teacher_epochs, args.student_steps) < 1:
        parser.error(
            "--subclasses, --teacher-epochs and --student-steps must be positive"
        )
    start = time.perf_counter()
    X, y, digit = load_digits_superclasses(n_superclasses=2)
    X = X.astype(np.float32)
    parts = train_test_split(X, y, digit, test_size=0.3, random_state=0, stratify=y)
    _teacher_demo(*parts[:4], parts[5], args)

    seeds, fractions = (range(5), (0.05, 0.2)) if args.full else (range(1), (0.05,))
    per_seed = [_study_seed(X, y, seed, fractions, args) for seed in seeds]
    names = [*STUDENTS, "MLPClassifier", "HistGradientBoosting", "LogisticRegression"]
    print(
        f"\nPaper's protocol, {len(per_seed)} seed(s): teachers fitted on all "
        "training rows; MLP(32) students on a labelled fraction, alone (low data) "
        "or with the other rows unlabelled (transfer). Test accuracy in %, mean "
        "over seeds.\n"
    )
    print("| regime | labelled | " + " | ".join(names) + " |")
    print("|:---|---:|" + "---:|" * len(names))
    for key in per_seed[0]:
        means = [100 * np.mean([s[key][n] for s in per_seed]) for n in names]
        cells = " | ".join(f"{m:.1f}" for m in means)
        print(f"| {key[0]} | {key[1]:.0%} | {cells} |")
    print(f"\nTotal time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
