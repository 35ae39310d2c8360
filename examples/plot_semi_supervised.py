"""
=================================================
Semi-supervised distillation with unlabelled rows
=================================================

A teacher can label data that nobody labelled. Rows whose label is ``-1``
(scikit-learn's marker for unlabelled samples, as in
:mod:`sklearn.semi_supervised`) are *transfer data* for
:class:`~sklearn_subdistill.SubclassDistilledStudent`: the teacher is fitted on
the labelled rows only, and the student learns from the teacher's
probabilities on every row, and from the labels where there are some. With
unlabelled rows the default ``subclass_weight="auto"`` distils the teacher's
class probabilities, not its split of each class (conventional distillation
from the subclass teacher): with transfer rows the split gained nothing in
the study on real data. ``subclass_weight=1`` distils the whole subclass
distribution, as in the paper.

This example keeps the labels of a few hundred training digits, hides the
rest, and compares three small networks as the number of labels grows:

- **labels only**: the student network fitted on the labelled rows alone;
- **teacher**: the :class:`~sklearn_subdistill.SubclassTeacherClassifier`,
  which also sees the labelled rows only;
- **distilled on all rows**: the student fitted on every training row, the
  unlabelled ones marked ``-1``.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

X, y, digit = load_digits_superclasses()
X_train, X_test, y_train, y_test, digit_train, _ = train_test_split(
    X, y, digit, test_size=0.4, stratify=digit, random_state=0
)
rng = np.random.RandomState(0)
order = rng.permutation(len(X_train))  # labels are kept in this order

# %%
# Hide labels and fit
# -------------------
# For each number of labels, ``y_partial`` holds the kept labels and ``-1``
# elsewhere. One call, ``student.fit(X_train, y_partial)``, fits the teacher on
# the labelled rows and then the student on all rows.
teacher = SubclassTeacherClassifier(
    n_subclasses=5,
    hidden_layer_sizes=(256, 256),
    max_epochs=40,
    batch_size=64,
    lr=3e-3,
    random_state=0,
    device="cpu",
)
student_params = dict(hidden_layer_sizes=(16,), max_epochs=30, lr=1e-2, device="cpu")
rows = []
for n_labelled in [25, 50, 100, 200]:
    y_partial = np.full_like(y_train, -1)
    labelled = order[:n_labelled]
    y_partial[labelled] = y_train[labelled]

    distilled = SubclassDistilledStudent(
        teacher=teacher, random_state=0, **student_params
    ).fit(X_train, y_partial)
    labels_only = SubclassDistilledStudent(
        teacher=FrozenEstimator(distilled.teacher_),
        alpha=0.0,
        random_state=0,
        **student_params,
    ).fit(X_train[labelled], y_train[labelled])
    for name, model in [
        ("labels only", labels_only),
        ("teacher", distilled.teacher_),
        ("distilled on all rows", distilled),
    ]:
        rows.append(
            {
                "labelled rows": n_labelled,
                "model": name,
                "test accuracy": model.score(X_test, y_test),
            }
        )
results = pd.DataFrame(rows).pivot(
    index="labelled rows", columns="model", values="test accuracy"
)
print(f"{len(X_train)} training rows in all")
results.round(3)

# %%
# The labels-only student gets the teacher as a frozen, unused placeholder
# (``alpha=0`` ignores it), so that no second teacher is trained.
#
# Test accuracy against the number of labelled rows (one seed; the
# unlabelled rows are the rest of the training set):
fig, ax = plt.subplots(figsize=(6, 3.5))
for name in ["labels only", "teacher", "distilled on all rows"]:
    ax.plot(results.index, results[name], marker="o", label=name)
ax.set_xscale("log")
ax.minorticks_off()
ax.set_xticks(results.index, labels=results.index)
ax.set_xlabel("labelled training rows")
ax.set_ylabel("test accuracy")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# Distilling without any labels
# -----------------------------
# With a fitted teacher wrapped in :class:`~sklearn.frozen.FrozenEstimator`,
# ``fit`` also accepts ``y=None`` (or all ``-1``): the student then learns from
# the teacher alone, for instance on fresh unlabelled data.
unlabelled_only = SubclassDistilledStudent(
    teacher=FrozenEstimator(distilled.teacher_), random_state=0, **student_params
).fit(X_train)
print(f"student distilled without labels: {unlabelled_only.score(X_test, y_test):.3f}")
