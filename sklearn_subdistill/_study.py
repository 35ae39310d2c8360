"""The low-data study: three students at several labelled-data sizes.

Shared by ``python -m sklearn_subdistill`` and ``benchmarks/low_data.py``.
"""

import math
import time

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from .metrics import subclass_recovery_score
from .student import SubclassDistilledStudent
from .teacher import SubclassTeacherClassifier

#: The three ways a student can be trained, in table order.
METHODS = ("labels only", "conventional", "subclass")


def epochs_for_steps(n_rows, batch_size, steps):
    """Epochs that give about ``steps`` optimiser steps on ``n_rows`` rows."""
    return max(1, math.ceil(steps / math.ceil(n_rows / batch_size)))


def low_data_study(
    X,
    y,
    y_hidden,
    *,
    fractions=(0.05, 0.1, 0.25, 1.0),
    seeds=(0, 1, 2, 3, 4),
    n_subclasses=5,
    teacher_params=None,
    student_params=None,
    teacher_steps=1000,
    student_steps=1000,
    test_size=0.3,
    progress=True,
):
    """Train teachers and three students per labelled fraction and seed.

    For each seed the data are split into train and test (stratified); for
    each fraction a stratified labelled subset of the training rows is drawn.
    On that subset a subclass teacher (``n_subclasses``) and a conventional
    teacher (one subclass, no auxiliary loss) are fitted, then three students
    with the same network on the same rows: labels only (``alpha=0``),
    distilled from the conventional teacher, and from the subclass teacher.
    Every network gets about the same number of optimiser steps whatever the
    subset's size.

    Returns
    -------
    rows : list of dict
        One row per (fraction, seed) with test accuracies, the subclass
        teacher's recovery of ``y_hidden`` and wall time.
    """
    teacher_params = {"device": "cpu", **(teacher_params or {})}
    student_params = {"device": "cpu", **(student_params or {})}
    batch = {
        "teacher": teacher_params.get("batch_size", 256),
        "student": student_params.get("batch_size", 256),
    }
    rows = []
    runs = [(seed, fraction) for seed in seeds for fraction in fractions]
    for seed, fraction in tqdm(runs, disable=not progress, desc="low-data study"):
        start = time.perf_counter()
        X_train, X_test, y_train, y_test, _, hidden_test = train_test_split(
            X, y, y_hidden, test_size=test_size, random_state=seed, stratify=y
        )
        if fraction < 1:
            X_train, _, y_train, _ = train_test_split(
                X_train,
                y_train,
                train_size=fraction,
                random_state=seed,
                stratify=y_train,
            )
        n_rows = len(X_train)
        teacher_epochs = epochs_for_steps(n_rows, batch["teacher"], teacher_steps)
        student_epochs = epochs_for_steps(n_rows, batch["student"], student_steps)

        teacher = {"max_epochs": teacher_epochs, "random_state": seed, **teacher_params}
        sub_teacher = SubclassTeacherClassifier(n_subclasses=n_subclasses, **teacher)
        sub_teacher.fit(X_train, y_train)
        conv_teacher = SubclassTeacherClassifier(
            **{**teacher, "n_subclasses": 1, "aux_weight": 0.0}
        ).fit(X_train, y_train)
        teachers = {
            "labels only": LogisticRegression(),  # ignored: alpha=0
            "conventional": FrozenEstimator(conv_teacher),
            "subclass": FrozenEstimator(sub_teacher),
        }
        row = {
            "fraction": fraction,
            "seed": seed,
            "n_labelled": n_rows,
            "teacher subclass": sub_teacher.score(X_test, y_test),
            "teacher conventional": conv_teacher.score(X_test, y_test),
            "recovery": subclass_recovery_score(
                hidden_test, sub_teacher.predict_subclass(X_test)
            ),
        }
        for method in METHODS:
            params = {"max_epochs": student_epochs, "random_state": seed}
            params.update(student_params)
            if method == "labels only":
                params["alpha"] = 0.0
            student = SubclassDistilledStudent(teacher=teachers[method], **params)
            row[method] = student.fit(X_train, y_train).score(X_test, y_test)
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def summary_table(rows, columns=(*METHODS, "teacher subclass", "recovery")):
    """A Markdown table of mean ± std over seeds, one line per fraction."""
    fractions = sorted({row["fraction"] for row in rows})
    header = ["labelled", "n", *columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" for _ in header) + "|",
    ]
    for fraction in fractions:
        group = [row for row in rows if row["fraction"] == fraction]
        cells = [f"{fraction:.0%}", str(group[0]["n_labelled"])]
        for column in columns:
            values = np.array([row[column] for row in group])
            cells.append(f"{values.mean():.4f} ± {values.std():.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
