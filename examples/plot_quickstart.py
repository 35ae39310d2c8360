"""
===========
Quick start
===========

Train a teacher that invents subclasses, distil it into a small student, and
compare the student with two baselines that use the same small network:

- **labels only**: the network trained on the labels (``alpha=0``);
- **conventional distillation**: the network distilled from a teacher without
  subclasses (``n_subclasses=1``), which gives it the teacher's two class
  probabilities only.

The data are scikit-learn's 8x8 digits collapsed into two classes, digits 0-4
and digits 5-9, as in the subclass-distillation demo on MNIST.
"""

# %%
# Data
# ----
# :func:`~sklearn_subdistill.datasets.load_digits_superclasses` returns the
# images scaled to ``[0, 1]``, the binary label and the digit, which stays
# hidden from the estimators.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

X, y, digit = load_digits_superclasses()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=digit, random_state=0
)
print(f"{len(X_train)} training and {len(X_test)} test images")
print("classes:", np.unique(y), "hidden digits:", np.unique(digit))

# %%
# Teachers
# --------
# Both teachers are the same two-layer network. The subclass teacher has
# ``2 * 5`` outputs; the conventional one has 2 and no auxiliary loss
# (``aux_weight=0``), which makes it an ordinary neural classifier.
teacher_params = dict(
    hidden_layer_sizes=(256, 256), max_epochs=30, lr=3e-3, device="cpu"
)
subclass_teacher = SubclassTeacherClassifier(
    n_subclasses=5, random_state=0, **teacher_params
).fit(X_train, y_train)
class_teacher = SubclassTeacherClassifier(
    n_subclasses=1, aux_weight=0.0, random_state=0, **teacher_params
).fit(X_train, y_train)

# %%
# Students
# --------
# Each student is a network with one hidden layer of 16 units. The fitted
# teachers are wrapped in :class:`~sklearn.frozen.FrozenEstimator` so that the
# students use them as they are. Every student is trained with three seeds.
# The subclass student keeps the default ``subclass_weight="auto"``: by
# 4-fold cross-validation on its labelled rows it compares conventional
# distillation of the subclass teacher with the paper's loss (the subclass
# distribution at temperature 4), keeps the paper's loss only where it
# predicts the held-out labels clearly better (2% lower log-loss), with the
# teacher and with the teacher refitted on each fold's other rows (here the
# frozen teacher's estimator, refitted without the held-out rows), then
# refits the choice on all rows (``student.subclass_weight_`` says which). Where it
# distils conventionally its network has one output per class: the "outputs"
# column below shows which it chose for each seed.
student_params = dict(hidden_layer_sizes=(16,), max_epochs=60, lr=1e-2, device="cpu")
students = {
    "labels only": dict(alpha=0.0, teacher=FrozenEstimator(class_teacher)),
    "conventional distillation": dict(teacher=FrozenEstimator(class_teacher)),
    "subclass distillation": dict(teacher=FrozenEstimator(subclass_teacher)),
}
rows = []
for name, params in students.items():
    for seed in range(3):
        student = SubclassDistilledStudent(
            random_state=seed, **params, **student_params
        ).fit(X_train, y_train)
        proba = student.predict_proba(X_test)
        rows.append(
            {
                "model": name,
                "seed": seed,
                "accuracy": accuracy_score(y_test, student.predict(X_test)),
                "log loss": log_loss(y_test, proba),
                "outputs": student.transform(X_test[:1]).shape[1],
            }
        )
for name, teacher in [
    ("teacher, 5 subclasses", subclass_teacher),
    ("teacher, no subclasses", class_teacher),
]:
    rows.append(
        {
            "model": name,
            "seed": 0,
            "accuracy": teacher.score(X_test, y_test),
            "log loss": log_loss(y_test, teacher.predict_proba(X_test)),
            "outputs": teacher.transform(X_test[:1]).shape[1],
        }
    )
results = pd.DataFrame(rows)

# %%
# Results
# -------
# Test accuracy and log loss, mean and standard deviation over the seeds (the
# teachers were trained once). The ``outputs`` column is the width of each
# network's output layer: the subclass student has the subclass teacher's
# ten.
summary = results.groupby("model", sort=False).agg(
    accuracy=("accuracy", "mean"),
    accuracy_std=("accuracy", "std"),
    log_loss=("log loss", "mean"),
    outputs=("outputs", "first"),
)
summary.round(4)

# %%
# The same accuracies per seed. One small dataset and three seeds are a
# demonstration, not a benchmark: see the benchmarks page for comparisons over
# more data and seeds.
fig, ax = plt.subplots(figsize=(7, 3))
for i, name in enumerate(students):
    scores = results.loc[results["model"] == name, "accuracy"]
    ax.scatter(scores, np.full(len(scores), i), color=f"C{i}")
ax.set_yticks(range(len(students)), labels=list(students))
ax.set_xlabel("test accuracy of the 16-unit student")
ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
plt.show()
