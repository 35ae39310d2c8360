"""
=============================================
Tuning teacher and student in one grid search
=============================================

The usefulness of a teacher's subclasses shows in the student, not in the
teacher's own accuracy. Because
:class:`~sklearn_subdistill.SubclassDistilledStudent` clones and fits an
unfitted teacher inside its ``fit``, a single
:class:`~sklearn.model_selection.GridSearchCV` can tune the teacher's
parameters (``teacher__<name>``) together with the student's, each candidate
scored by the student on held-out folds.

Refitting the teacher for every candidate and fold is what makes this costly.
The second half of the example freezes one fitted teacher with
:class:`~sklearn.frozen.FrozenEstimator` and tunes the student alone.
"""

# %%
# Data
# ----
# Digits 0-4 against digits 5-9; a test set is kept apart for the end.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

X, y, digit = load_digits_superclasses()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=digit, random_state=0
)

# %%
# One search over teacher and student
# -----------------------------------
# The grid crosses the teacher's number of subclasses with the student's
# distillation temperature. ``n_subclasses=1`` (with the auxiliary loss turned
# off) is conventional distillation, so the search also compares subclass
# distillation with it. Each of the 6 candidates is fitted on 3 folds, and
# each fit trains a teacher and then a student; with a subclass teacher, the
# default ``subclass_weight="auto"`` trains thirteen students (conventional
# distillation and the paper's loss with either class mass, each on the four
# folds of a 4-fold cross-validation of the labelled rows, then the choice on
# all of them), and where those scores keep a split, four teachers and up to
# twelve students more to check it with teachers fitted without each fold.
student = SubclassDistilledStudent(
    teacher=SubclassTeacherClassifier(
        hidden_layer_sizes=(128,), max_epochs=20, lr=3e-3, random_state=0, device="cpu"
    ),
    hidden_layer_sizes=(16,),
    max_epochs=30,
    lr=1e-2,
    random_state=0,
    device="cpu",
)
param_grid = [
    {
        "teacher__n_subclasses": [1],
        "teacher__aux_weight": [0.0],
        "temperature": [1.0, 4.0],
    },
    {"teacher__n_subclasses": [2, 5], "temperature": [1.0, 4.0]},
]
search = GridSearchCV(student, param_grid, cv=3).fit(X_train, y_train)
print("best parameters:", search.best_params_)

# %%
# Mean validation accuracy of every candidate, one row per number of
# subclasses and one column per temperature:
results = pd.DataFrame(search.cv_results_)
table = results.pivot_table(
    index="param_teacher__n_subclasses",
    columns="param_temperature",
    values="mean_test_score",
)
table.index.name, table.columns.name = "n_subclasses", "temperature"
table.round(4)

# %%
# Freeze the teacher, tune the student
# ------------------------------------
# ``search.best_estimator_`` was refitted on the whole training set, teacher
# included. Frozen, that teacher is used as it is by every clone of the
# student: the second search fits the student 9 times (and once more to
# refit), each fit four students with a subclass teacher, and no teacher.
#
# One caveat: the frozen teacher was trained on every row of ``X_train``,
# including the rows that each fold holds out, so these validation scores are
# somewhat optimistic. They still rank student settings; the test set gives
# the unbiased number at the end.
frozen_teacher = FrozenEstimator(search.best_estimator_.teacher_)
student_search = GridSearchCV(
    clone(search.best_estimator_).set_params(teacher=frozen_teacher),
    {"alpha": [0.0, 0.5, 1.0]},
    cv=3,
).fit(X_train, y_train)

alpha = student_search.cv_results_["param_alpha"].astype(float)
mean = student_search.cv_results_["mean_test_score"]
std = student_search.cv_results_["std_test_score"]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.errorbar(alpha, mean, yerr=std, marker="o", capsize=3)
ax.set_xlabel("alpha (0: labels only, 1: teacher only)")
ax.set_ylabel("validation accuracy")
ax.set_title("Frozen teacher: mean and std over 3 folds")
fig.tight_layout()
plt.show()

# %%
# Test accuracy of the final student (refitted on all of ``X_train`` with the
# best ``alpha``) and of its teacher:
final = student_search.best_estimator_
print(f"best alpha: {student_search.best_params_['alpha']}")
print(f"student test accuracy: {final.score(X_test, y_test):.3f}")
print(f"teacher test accuracy: {final.teacher_.score(X_test, y_test):.3f}")
