"""
=============================================
Training from data on disk, batch by batch
=============================================

When the training set does not fit in memory, keep it in a file and hand the
estimators something that reads it a batch at a time. In place of ``X`` and
``y``, ``fit`` and the prediction methods take

- an *iterable of batches* ``(X_batch, y_batch)``: a torch ``DataLoader``, or
  any object whose ``iter()`` starts a new pass over the data;
- a map-style torch ``Dataset`` of ``(x, y)`` samples, read by index: the
  same shuffling as for arrays, and early stopping works.

Both are checked batch by batch before training starts, and only one batch is
in memory at a time. See :ref:`scaling` for the costs we measured.
"""

# %%
# A data set on disk
# ------------------
# ``make_subclass_classification`` draws two classes, each a union of five
# clusters. The rows are written to a memory-mapped ``.npy`` file in chunks,
# as one would write data that never fits in memory at once.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.frozen import FrozenEstimator
from torch.utils.data import Dataset

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import make_subclass_classification

folder = Path(tempfile.mkdtemp())
n_rows, n_features, chunk = 60_000, 20, 10_000
X_file = np.lib.format.open_memmap(
    folder / "X.npy", mode="w+", dtype=np.float32, shape=(n_rows, n_features)
)
y_file = np.lib.format.open_memmap(
    folder / "y.npy", mode="w+", dtype=np.int64, shape=(n_rows,)
)
for start in range(0, n_rows, chunk):
    X_part, y_part, _ = make_subclass_classification(
        n_samples=chunk, n_features=n_features, random_state=start
    )
    X_file[start : start + chunk] = X_part
    y_file[start : start + chunk] = y_part
X_file.flush()
y_file.flush()
del X_file, y_file

# Opened read-only: pages are read from disk as batches touch them.
X = np.load(folder / "X.npy", mmap_mode="r")
y = np.load(folder / "y.npy", mmap_mode="r")
train, test = slice(0, 50_000), slice(50_000, None)

# %%
# A teacher from an iterable of batches
# -------------------------------------
# Slices of the file are the cheapest batches: contiguous reads. The class
# below yields them in a new random order on every pass, so each epoch sees
# the batches shuffled.


class ShuffledSlices:
    """``(X[a:b], y[a:b])`` slices of memory-mapped arrays, shuffled each pass."""

    def __init__(self, X, y, size=256, seed=0):
        self.X, self.y, self.size = X, y, size
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        starts = np.arange(0, len(self.X), self.size)
        self.rng.shuffle(starts)
        for start in starts:
            rows = slice(start, start + self.size)
            yield self.X[rows], self.y[rows]


teacher = SubclassTeacherClassifier(
    hidden_layer_sizes=(128, 128), max_epochs=4, random_state=0
).fit(ShuffledSlices(X[train], y[train]))

# Prediction takes an iterable too; a one-shot generator is fine here.
chunks = (X[test][i : i + 4096] for i in range(0, len(X[test]), 4096))
teacher_accuracy = np.mean(teacher.predict(chunks) == y[test])
print(f"teacher: {teacher.n_iter_} epochs, test accuracy {teacher_accuracy:.4f}")

# %%
# A student from a map-style Dataset, with early stopping
# -------------------------------------------------------
# A map-style ``Dataset`` is read by index, so the student can hold out a
# stratified validation split and stop early, exactly as with arrays.
# ``__getitems__`` (optional) reads a whole batch in one call, in file order,
# and returns the rows in the order asked for.


class MappedRows(Dataset):
    """``(x, y)`` rows of memory-mapped arrays."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]

    def __getitems__(self, indices):
        indices = np.asarray(indices)
        order = np.argsort(indices)
        rows = np.empty((len(indices), self.X.shape[1]), dtype=self.X.dtype)
        rows[order] = self.X[indices[order]]
        return list(zip(rows, self.y[indices], strict=True))


student = SubclassDistilledStudent(
    teacher=FrozenEstimator(teacher),
    hidden_layer_sizes=(16,),
    max_epochs=30,
    early_stopping=True,
    n_iter_no_change=3,
    random_state=0,
).fit(MappedRows(X[train], y[train]))
student_accuracy = student.score(X[test], y[test])
print(f"student: {student.n_iter_} epochs, test accuracy {student_accuracy:.4f}")

# %%
# The student's losses per epoch, from skorch's history. Early stopping
# watches the validation loss: training ends after three epochs without
# improvement (or at ``max_epochs``), keeping the weights of the best epoch.
epochs = student.history_[:, "epoch"]
plt.plot(epochs, student.history_[:, "train_loss"], label="training loss")
plt.plot(epochs, student.history_[:, "valid_loss"], label="validation loss")
plt.xlabel("epoch")
plt.ylabel("distillation loss")
plt.legend()
plt.title("Student distilled from a Dataset on disk")
plt.show()

# %%
# Clean up the files.
del X, y
for path in folder.iterdir():
    path.unlink()
folder.rmdir()
