"""``python -m sklearn_subdistill``: subclass distillation on digits, 0-4 vs 5-9.

Fits a subclass teacher on scikit-learn's digits collapsed to two classes and
shows how its invented subclasses line up with the digits, then runs a small
paper-protocol study (teachers on all training labels; MLP(32) students on a
few labels, alone or with the other rows unlabelled) and prints its table,
with scikit-learn's usual alternatives trained on the same labels.
"""

import argparse
import sys
import time

import numpy as np
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import train_test_split

from . import __version__
from ._study import paper_protocol_study, summary_table
from .datasets import load_digits_superclasses
from .metrics import subclass_recovery_score
from .teacher import SubclassTeacherClassifier


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_subdistill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.05, 0.2],
        help="labelled fractions of the training rows (default: 0.05 0.2)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=2,
        help="number of seeds (train/test splits) (default: 2)",
    )
    parser.add_argument(
        "--subclasses",
        type=int,
        default=5,
        help="subclasses per class of the first teacher, whose subclasses are "
        "matched to the digits (default: 5, the digits of each class); the "
        "study's teachers keep the package defaults",
    )
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu, cuda, auto (default: cpu)"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="hide the progress bar"
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def _teacher_demo(X, y, digit, n_subclasses, device):
    X_train, X_test, y_train, y_test, _, digit_test = train_test_split(
        X, y, digit, test_size=0.3, random_state=0, stratify=y
    )
    teacher = SubclassTeacherClassifier(
        n_subclasses=n_subclasses, device=device, random_state=0
    ).fit(X_train, y_train)
    subclass = teacher.predict_subclass(X_test)
    print(f"Teacher test accuracy (0-4 vs 5-9): {teacher.score(X_test, y_test):.4f}")
    print(
        f"Subclasses used on the test rows: {len(np.unique(subclass))} of "
        f"{2 * n_subclasses}"
    )
    print(
        "Subclass recovery (best one-to-one subclass-to-digit matching, accuracy): "
        f"{subclass_recovery_score(digit_test, subclass):.4f}"
    )
    counts = contingency_matrix(digit_test, subclass)
    print("\nTest rows per digit (rows) and invented subclass (columns):")
    print("digit | " + " ".join(f"{k:>4}" for k in np.unique(subclass)))
    for d, line in zip(np.unique(digit_test), counts, strict=True):
        print(f"{d:>5} | " + " ".join(f"{c:>4}" for c in line))


def main(argv=None):
    """Run the demonstration; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.seeds < 1 or args.subclasses < 1:
        _parser().error("--seeds and --subclasses must be positive")
    if not all(0 < f <= 1 for f in args.fractions):
        _parser().error("--fractions must lie in (0, 1]")
    start = time.perf_counter()
    X, y, digit = load_digits_superclasses(n_superclasses=2)
    X = X.astype(np.float32)
    _teacher_demo(X, y, digit, args.subclasses, args.device)

    print(
        f"\nPaper-protocol study, {args.seeds} seed(s): teachers fitted on all "
        "training rows; MLP(32) students on a labelled fraction, alone (low data) "
        "or with the other rows unlabelled (transfer); test accuracy in %, mean "
        "± std over seeds."
    )
    rows = paper_protocol_study(
        X,
        y,
        digit,
        fractions=args.fractions,
        seeds=range(args.seeds),
        teacher_params={"device": args.device, "max_epochs": 40},
        student_params={"device": args.device},
        progress=not args.no_progress,
    )
    print(summary_table(rows))
    print(f"\nTotal time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
