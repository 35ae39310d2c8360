"""The paper-protocol study: students of a teacher that knows more than they do.

Behind ``benchmarks/paper_protocol.py`` (not part of the package). For each
seed the rows are split into train and test (stratified, or by group where
rows of one group must stay together) and standardised on the training rows;
the teachers are fitted on *all* training rows (as in the paper and its
demo); students of one small network then learn from a labelled fraction of
the training rows, either alone ("low data") or with the other training rows
unlabelled, ``y=-1`` ("transfer"). Beside them, what a user would pick
instead, on the same labelled rows: scikit-learn's ``MLPClassifier`` of the
student's size trained to convergence, ``HistGradientBoostingClassifier`` and
``LogisticRegression``.
"""

import math
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_subdistill import (
    EmbeddingSubclassTeacher,
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
)
from sklearn_subdistill.metrics import subclass_recovery_score

#: The teachers, by name: their parameters (on top of the package defaults).
TEACHERS = {
    "conventional": {"n_subclasses": 1, "aux_weight": 0},  # the 1-subclass twin
    "subclass": {},  # the package's defaults
    "paper": {"subclass_head": "shared", "aux_loss": "contrastive"},
}
#: Teachers fitted only to measure how their subclasses recover hidden labels
#: (at the number of hidden groups per class of the image sets).
RECOVERY_TEACHERS = {
    "subclass, n_subclasses=5": {"n_subclasses": 5},
    "paper, n_subclasses=5": {**TEACHERS["paper"], "n_subclasses": 5},
}
#: Students, in table order: (teacher, student parameters on top of the
#: package defaults). The paper's method is its teacher with its student
#: loss: the whole subclass distribution (``subclass_weight=1``) at ``T=4``.
STUDENTS = {
    "labels only": ("conventional", {"alpha": 0.0}),
    "conventional": ("conventional", {}),
    "subclass": ("subclass", {}),
    "subclass, split always": (
        "subclass",
        {"subclass_weight": 1.0, "temperature": 4.0},
    ),
    "paper's method": ("paper", {"subclass_weight": 1.0, "temperature": 4.0}),
    "embedding": ("embedding", {}),
}
#: What a user would train instead on the labelled rows.
BASELINES = ("MLPClassifier", "HistGradientBoosting", "LogisticRegression")
REGIMES = ("low data", "transfer")


def epochs_for_steps(n_rows, batch_size, steps):
    """Epochs that give about ``steps`` optimiser steps on ``n_rows`` rows."""
    return max(1, math.ceil(steps / math.ceil(n_rows / batch_size)))


def score(y_true, proba, metric):
    """Accuracy, or ROC AUC of the positive class (binary imbalanced data)."""
    if metric == "roc_auc":
        return roc_auc_score(y_true, proba[:, 1])
    return accuracy_score(y_true, proba.argmax(axis=1))


def fit_teachers(X, y, *, seed, teacher_params=None, recovery=False):
    """The study's teachers, fitted on ``(X, y)``, by name.

    ``embedding`` splits the 1-subclass twin's classes by projections of its
    embeddings (``EmbeddingSubclassTeacher``, its own default count).
    """
    params = {"random_state": seed, **(teacher_params or {})}
    variants = {**TEACHERS, **(RECOVERY_TEACHERS if recovery else {})}
    teachers = {
        name: SubclassTeacherClassifier(**{**params, **variant}).fit(X, y)
        for name, variant in variants.items()
    }
    teachers["embedding"] = EmbeddingSubclassTeacher(
        FrozenEstimator(teachers["conventional"]), random_state=seed
    ).fit(X, y)
    return teachers


def _baselines(X, y, X_test, y_test, *, seed, hidden, metric):
    models = {
        "MLPClassifier": MLPClassifier(hidden, max_iter=2000, random_state=seed),
        "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed),
        "LogisticRegression": LogisticRegression(max_iter=2000),
    }
    return {
        name: score(y_test, model.fit(X, y).predict_proba(X_test), metric)
        for name, model in models.items()
    }


def _students(teachers, X, y, X_test, y_test, *, seed, params, steps, metric):
    """Scores of one student per method on ``(X, y)`` (``-1``: unlabelled),
    and the split weight the default student chose."""
    labelled = y != -1
    out = {}
    for method, (source, own) in STUDENTS.items():
        kwargs = {"random_state": seed, **params, **own}
        rows_X, rows_y = (
            (X[labelled], y[labelled]) if method == "labels only" else (X, y)
        )
        kwargs["max_epochs"] = epochs_for_steps(
            len(rows_y), kwargs.get("batch_size", 256), steps
        )
        student = SubclassDistilledStudent(
            teacher=FrozenEstimator(teachers[source]), **kwargs
        )
        student.fit(rows_X, rows_y)
        out[method] = score(y_test, student.predict_proba(X_test), metric)
        if method == "subclass":
            out["subclass weight chosen"] = student.subclass_weight_
            out["class mass chosen"] = student.class_mass_
    return out


def _teacher_row(teachers, X_test, y_test, hidden_test, metric):
    row = {
        f"teacher {name}": score(y_test, t.predict_proba(X_test), metric)
        for name, t in teachers.items()
        if name != "embedding"  # its classes are the conventional teacher's
    }
    if hidden_test is not None:
        for name in set(teachers) - {"conventional"}:
            predicted = teachers[name].predict_subclass(X_test)
            row[f"recovery {name}"] = subclass_recovery_score(hidden_test, predicted)
            row[f"purity {name}"] = subclass_recovery_score(
                hidden_test, predicted, matching="many-to-one"
            )
    return row


def paper_protocol_study(
    X,
    y,
    y_hidden=None,
    groups=None,
    *,
    fractions=(0.05, 0.2),
    seeds=(0, 1, 2, 3, 4),
    metric="accuracy",
    teacher_params=None,
    student_params=None,
    student_steps=500,
    test_size=0.3,
    n_jobs=None,
):
    """Run the study; one row per (seed, fraction, regime).

    Each row holds the test score of every student and baseline, the split
    weight the default student chose, the teachers' scores and, when
    ``y_hidden`` is given, the recovery of the hidden labels by each
    teacher's subclasses (with teachers at 5 subclasses per class as well).
    Rows of one ``groups`` value stay on one side of the train/test split.
    Students get about ``student_steps`` optimiser steps whatever their
    number of rows. Seeds run in ``n_jobs`` processes (joblib; ``None``: one
    after the other); the rows are the same either way.
    """
    settings = dict(
        fractions=fractions, metric=metric,
        teacher_params={"device": "cpu", **(teacher_params or {})},
        student_params={
            "device": "cpu", "hidden_layer_sizes": (32,), **(student_params or {})
        },
        student_steps=student_steps, test_size=test_size,
    )  # fmt: skip
    per_seed = Parallel(n_jobs=n_jobs)(
        delayed(_one_seed)(X, y, y_hidden, groups, seed, **settings) for seed in seeds
    )
    return [row for rows in per_seed for row in rows]


def _split(X, y, y_hidden, groups, seed, test_size):
    """Train and test indices: stratified, or by group."""
    if groups is not None:
        splitter = GroupShuffleSplit(1, test_size=test_size, random_state=seed)
        return next(splitter.split(X, y, groups))
    return train_test_split(
        np.arange(len(y)), test_size=test_size, random_state=seed, stratify=y
    )


def _one_seed(
    X, y, y_hidden, groups, seed, *, fractions, metric, teacher_params,
    student_params, student_steps, test_size,
):  # fmt: skip
    """The study's rows of one seed: split, scale, teachers, then students."""
    start = time.perf_counter()
    train, test = _split(X, y, y_hidden, groups, seed, test_size)
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train]).astype(np.float32)
    X_test = scaler.transform(X[test]).astype(np.float32)
    y_train, y_test = y[train], y[test]
    hidden_test = None if y_hidden is None else y_hidden[test]
    teachers = fit_teachers(
        X_train, y_train, seed=seed, teacher_params=teacher_params,
        recovery=y_hidden is not None,
    )  # fmt: skip
    common = _teacher_row(teachers, X_test, y_test, hidden_test, metric)
    for name in RECOVERY_TEACHERS:
        teachers.pop(name, None)  # no students of these
    rows = []
    for fraction in fractions:
        labelled, _ = train_test_split(
            np.arange(len(y_train)), train_size=fraction, random_state=seed,
            stratify=y_train,
        )  # fmt: skip
        baselines = _baselines(
            X_train[labelled], y_train[labelled], X_test, y_test, seed=seed,
            hidden=student_params["hidden_layer_sizes"], metric=metric,
        )  # fmt: skip
        for regime in REGIMES:
            y_regime = np.full(len(y_train), -1, dtype=np.int64)
            y_regime[labelled] = y_train[labelled]
            X_regime = X_train
            if regime == "low data":
                X_regime, y_regime = X_train[labelled], y_train[labelled]
            row = {"seed": seed, "fraction": fraction, "regime": regime}
            row["n_labelled"] = len(labelled)
            row["n_train"] = len(y_train)
            row.update(common)
            row.update(baselines)
            row.update(
                _students(
                    teachers, X_regime, y_regime, X_test, y_test, seed=seed,
                    params=student_params, steps=student_steps, metric=metric,
                )
            )  # fmt: skip
            rows.append(row)
    for row in rows:
        row["seconds"] = time.perf_counter() - start
    return rows


def summary_table(rows, columns=None, digits=1):
    """A Markdown table of mean ± std over seeds (in %), one line per regime and
    fraction; the best student of each line in bold."""
    if columns is None:
        columns = [c for c in (*STUDENTS, *BASELINES) if c in rows[0]]
    header = ["regime", "labelled", "n", *columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|:---|---:|---:|" + "|".join("---:" for _ in columns) + "|",
    ]
    for regime, fraction, group in _lines(rows):
        means = {c: 100 * np.mean([r[c] for r in group]) for c in columns}
        best = max((c for c in columns if c not in BASELINES), key=means.get)
        cells = [regime, f"{fraction:.0%}", str(group[0]["n_labelled"])]
        for column in columns:
            std = 100 * np.std([r[column] for r in group])
            cell = f"{means[column]:.{digits}f} ± {std:.{digits}f}"
            cells.append(f"**{cell}**" if column == best else cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def difference_table(rows, columns, against="conventional", digits=2):
    """A Markdown table of paired differences ``column - against`` (in points):
    mean ± standard error over seeds, one line per regime and fraction.

    Every student of a seed shares its split and test rows, so the difference
    within a seed removes the split's noise that the spread of
    :func:`summary_table` includes.
    """
    header = ["regime", "labelled", *(f"{c} - {against}" for c in columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|:---|---:|" + "|".join("---:" for _ in columns) + "|",
    ]
    for regime, fraction, group in _lines(rows):
        cells = [regime, f"{fraction:.0%}"]
        for column in columns:
            diff = 100 * np.array([r[column] - r[against] for r in group])
            cell = f"{diff.mean():+.{digits}f}"
            if len(diff) > 1:  # a standard error needs two seeds
                cell += f" ± {diff.std(ddof=1) / np.sqrt(len(diff)):.{digits}f}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _lines(rows):
    """``(regime, fraction, rows of every seed)`` of each line of a table, in
    the order of :data:`REGIMES` then fraction."""
    keys = {(r["regime"], r["fraction"]) for r in rows}
    for regime, fraction in sorted(keys, key=lambda k: (REGIMES.index(k[0]), k[1])):
        group = [r for r in rows if (r["regime"], r["fraction"]) == (regime, fraction)]
        yield regime, fraction, group
