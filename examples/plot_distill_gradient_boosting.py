"""
===================================================
Distilling a gradient boosting model into a network
===================================================

The teacher does not have to be a network. Any scikit-learn classifier with
``predict_proba`` can teach a
:class:`~sklearn_subdistill.SubclassDistilledStudent`: the student then matches
the teacher's class probabilities, which is conventional distillation (a
teacher without subclasses counts as having one subclass per class).

Here a :class:`~sklearn.ensemble.HistGradientBoostingClassifier` is distilled
into a network with one hidden layer of 16 units, on synthetic click-through
data: two classes, a minority of clicks, and hidden user segments.
"""

# %%
# Data
# ----
# :func:`~sklearn_subdistill.datasets.make_clickthrough` draws users from
# hidden segments, each with its own model of the click probability. The
# features are six numeric columns and three one-hot encoded categorical ones.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassDistilledStudent
from sklearn_subdistill.datasets import make_clickthrough

X, y, segment = make_clickthrough(n_samples=20_000, positive_rate=0.1, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
print(f"{X.shape[1]} features, click rate {y.mean():.3f}")

# %%
# Fit teacher and student in one call
# -----------------------------------
# An unfitted teacher is cloned and fitted on the labelled rows inside the
# student's ``fit``; the fitted copy is the student's ``teacher_``.
student = SubclassDistilledStudent(
    teacher=HistGradientBoostingClassifier(random_state=0),
    alpha=0.5,
    hidden_layer_sizes=(16,),
    max_epochs=20,
    lr=3e-3,
    random_state=0,
    device="cpu",
).fit(X_train, y_train)
teacher = student.teacher_
print("teacher:", teacher)
print("subclasses per class:", student.n_subclasses_)

# %%
# More weight on the teacher
# --------------------------
# ``alpha`` weighs the distillation term against the labels. Freezing the
# fitted teacher lets the other students reuse it: ``alpha=0`` ignores the
# teacher (the labels-only baseline) and ``alpha=1`` ignores the labels.
students = {0.5: student}
for alpha in [0.0, 1.0]:
    students[alpha] = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher),
        alpha=alpha,
        hidden_layer_sizes=(16,),
        max_epochs=20,
        lr=3e-3,
        random_state=0,
        device="cpu",
    ).fit(X_train, y_train)

# %%
# Results
# -------
# Test ROC AUC and log loss of the teacher and of each student, and how close
# each student's click probabilities are to the teacher's (mean absolute
# difference, and correlation).
teacher_click = teacher.predict_proba(X_test)[:, 1]
rows = [
    {
        "model": "gradient boosting (teacher)",
        "ROC AUC": roc_auc_score(y_test, teacher_click),
        "log loss": log_loss(y_test, teacher_click),
    }
]
for alpha in sorted(students):
    click = students[alpha].predict_proba(X_test)[:, 1]
    rows.append(
        {
            "model": f"student, alpha={alpha}",
            "ROC AUC": roc_auc_score(y_test, click),
            "log loss": log_loss(y_test, click),
            "mean |difference| to teacher": np.abs(click - teacher_click).mean(),
            "correlation with teacher": np.corrcoef(click, teacher_click)[0, 1],
        }
    )
pd.DataFrame(rows).set_index("model").round(4)

# %%
# Student against teacher, click by click
# ---------------------------------------
# Each point is a test user; on the diagonal the student predicts exactly what
# the teacher does.
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharex=True, sharey=True)
for ax, alpha in zip(axes, sorted(students), strict=True):
    click = students[alpha].predict_proba(X_test)[:, 1]
    ax.scatter(teacher_click, click, s=2, alpha=0.3)
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8)
    ax.set_title(f"alpha={alpha}")
    ax.set_xlabel("teacher's click probability")
axes[0].set_ylabel("student's click probability")
fig.tight_layout()
plt.show()
