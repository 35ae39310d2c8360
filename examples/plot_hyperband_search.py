"""
=================================================
Adaptive search on a Dask cluster with Hyperband
=================================================

A grid search trains every candidate to the end. Dask-ML's
:class:`~dask_ml.model_selection.HyperbandSearchCV` trains many candidates a
little, scores them on a held-out part of the data, and gives more training
only to the best; the others stop early. It drives the estimators through
``partial_fit`` (one epoch over one block of a dask array per call), so the
network and its optimizer state carry over between calls, and it runs the
calls on the workers of a Dask cluster.

Here it tunes a :class:`~sklearn_subdistill.SubclassDistilledStudent`: its
own width and learning rate, and its teacher's auxiliary-loss weight
(``teacher__aux_weight``). The student fits its teacher on the first
``partial_fit`` call and keeps it afterwards.

Needs the ``dask`` extra (``pip install "sklearn-subdistill[dask]"``):
dask-ml 2025.1 runs ``HyperbandSearchCV`` with dask and distributed 2025.1
to 2025.2 only, which the extra pins (see :ref:`scaling`).
"""

# %%
# A local cluster
# ---------------
# One worker, a thread of this process, so that the example starts quickly
# and can run as a plain script. One thread, because fits running in threads
# of one process share torch's global random generator, from which the
# networks' initial weights are drawn: two seeded fits at once could draw each
# other's numbers. Worker processes (``Client(n_workers=2)``, the default
# kind, as in ``tests/test_dask.py``) each have their own, and
# ``Client("scheduler-address:8786")`` uses a real cluster.
import dask.array as da
import matplotlib.pyplot as plt
import pandas as pd
from dask.distributed import Client
from dask_ml.model_selection import HyperbandSearchCV
from scipy.stats import loguniform
from sklearn.model_selection import train_test_split

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

client = Client(processes=False, n_workers=1, threads_per_worker=1)

# %%
# Data in blocks
# --------------
# Digits 0-4 against digits 5-9. The training rows become a dask array of
# blocks of 200 rows: each ``partial_fit`` call trains one epoch over one
# block. HyperbandSearchCV holds out a quarter of them to score the
# candidates; the test set stays apart for the end.
X, y, digit = load_digits_superclasses()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=digit, random_state=0
)
X_blocks = da.from_array(X_train, chunks=(200, X.shape[1]))
y_blocks = da.from_array(y_train, chunks=200)

# %%
# The search
# ----------
# ``max_iter=9``: no candidate gets more than 9 ``partial_fit`` calls.
# Hyperband runs three brackets of successive halving that trade the number
# of candidates against the calls each starts with.
student = SubclassDistilledStudent(
    teacher=SubclassTeacherClassifier(
        n_subclasses=2,
        hidden_layer_sizes=(64,),
        max_epochs=10,
        lr=1e-2,
        device="cpu",
        random_state=0,
    ),
    batch_size=64,
    device="cpu",
    random_state=0,
)
params = {
    "teacher__aux_weight": [0.0, 0.5, 1.0],
    "hidden_layer_sizes": [(8,), (16,), (32,)],
    "lr": loguniform(1e-3, 3e-2),
}
search = HyperbandSearchCV(student, params, max_iter=9, random_state=0)
search.fit(X_blocks, y_blocks)
print("best parameters:", search.best_params_)
print(
    f"{search.metadata_['n_models']} candidates, "
    f"{search.metadata_['partial_fit_calls']} partial_fit calls in all"
)

# %%
# Every candidate, best first: its parameters, the ``partial_fit`` calls it
# received and its last score on the held-out blocks.
results = search.cv_results_
table = pd.DataFrame(list(results["params"])).rename(
    columns={"teacher__aux_weight": "aux_weight", "hidden_layer_sizes": "hidden"}
)
table["calls"] = results["partial_fit_calls"]
table["held-out accuracy"] = results["test_score"]
table = table[["aux_weight", "hidden", "lr", "calls", "held-out accuracy"]]
table.sort_values("held-out accuracy", ascending=False).round(4).reset_index(drop=True)

# %%
# Which candidates trained longer
# -------------------------------
# The held-out accuracy of every candidate after each of its calls. In the
# brackets that start many candidates, those that start badly stop after one
# or three calls. The bracket that starts only three trains all three for
# nine calls, whatever their scores: Hyperband hedges against early scores
# that mislead.
fig, ax = plt.subplots(figsize=(6, 4))
for history in search.model_history_.values():
    calls = [record["partial_fit_calls"] for record in history]
    scores = [record["score"] for record in history]
    ax.plot(calls, scores, marker="o", alpha=0.6)
ax.set_xlabel("partial_fit calls (one epoch over one block)")
ax.set_ylabel("held-out accuracy")
ax.set_title("Hyperband: each line is one candidate")
fig.tight_layout()

# %%
# The best candidate as the search left it (Hyperband does not refit): its
# accuracy on the test set.
print(f"test accuracy of the best student: {search.score(X_test, y_test):.3f}")
client.close()
