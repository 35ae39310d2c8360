"""Data that are not arrays: torch Datasets and iterables of batches.

In place of an array ``X`` (with ``y=None``: the labels travel with the
features), the estimators accept

* a map-style :class:`torch.utils.data.Dataset` (``len(data)`` and
  ``data[i]``) of samples ``(x, y)``, or ``x`` alone for prediction and for a
  student's unlabelled rows. Rows are drawn by index, shuffled every epoch
  with the estimator's seeded generator as for arrays, so early stopping gets
  a stratified validation split;
* an iterable of batches ``(X_batch, y_batch)`` or ``X_batch``: a
  :class:`~torch.utils.data.DataLoader`, or any object whose ``iter()``
  returns a fresh iterator of batches (for training it is read once per
  epoch, so a one-shot generator only serves prediction). Batches are used as
  they come, in the iterable's order and sizes;
* a :class:`torch.utils.data.IterableDataset` of samples, which the
  estimators batch in the order it yields them.

Every source is read in full once before training (:func:`scan`): every batch
is checked as an array would be, and the classes, the number of features and
the number of rows are learnt without holding more than one batch. Training
then reads it once per epoch, checking each batch again, and prediction reads
it once.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d
from torch.utils.data import DataLoader, Dataset, IterableDataset

#: The largest magnitude a float32 holds; the networks read their input as
#: float32 (and compute in float32, or in float64 with precision="fp64").
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: What the error messages call a streamed input.
STREAM_NAME = "a torch Dataset or an iterable of batches"


def is_stream(X):
    """Whether ``X`` is a torch Dataset or an iterable of batches, not an array-like."""
    if isinstance(X, (Dataset, DataLoader)):
        return True
    if (
        isinstance(X, (str, bytes, dict, list, tuple, np.ndarray, torch.Tensor))
        or sp.issparse(X)
        or hasattr(X, "__array__")
        or hasattr(X, "__dataframe__")
        or hasattr(X, "shape")
    ):
        return False
    return isinstance(X, Iterable)


def check_float32_range(X, what="X"):
    """Raise ``ValueError`` if ``X`` holds values a float32 cannot represent.

    The networks read their input as float32 (even with ``precision="fp64"``,
    which casts each batch to float64); a float64 value beyond its range would
    silently become infinite.
    """
    if X.dtype != np.float64 or X.size == 0:
        return
    largest = max(-float(X.min()), float(X.max()))
    if largest > _FLOAT32_MAX:
        raise ValueError(
            f"{what} contains values too large for float32, the precision the "
            f"network reads its input in (largest magnitude {largest:.3g} > "
            f"{_FLOAT32_MAX:.3g}); rescale the features, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )


def _numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _is_pair(item, ndim):
    """Whether ``item`` is ``(features, labels)``, features of ``ndim`` or more axes.

    A sample's label is a scalar; a list of two numbers is a row, not a pair.
    """
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        return False
    if ndim == 1:
        return np.ndim(item[0]) >= 1 and np.ndim(item[1]) == 0
    return np.ndim(item[0]) >= ndim


def _unwrap(item, ndim):
    """``x`` from ``(x,)``: what a one-tensor TensorDataset or its DataLoader gives."""
    if isinstance(item, (tuple, list)) and len(item) == 1 and np.ndim(item[0]) == ndim:
        return item[0]
    return item


def _stack_samples(samples, where):
    """One batch ``(X, y or None)`` from samples ``(x, y)``, ``x`` or ``(x,)``."""
    samples = [_unwrap(sample, 1) for sample in samples]
    pairs = [_is_pair(sample, 1) for sample in samples]
    if all(pairs):
        rows = [_numpy(sample[0]) for sample in samples]
        labels = np.asarray([_numpy(sample[1]) for sample in samples])
    elif not any(pairs):
        rows, labels = [_numpy(sample) for sample in samples], None
    else:
        raise ValueError(
            f"{where} mixes (x, y) samples with samples of x alone; give every "
            "sample a label (-1 marks an unlabelled row for a student) or none."
        )
    try:
        return np.stack(rows), labels
    except ValueError as exc:
        raise ValueError(
            f"{where}: the samples' features do not stack into one 2-D batch "
            f"(shapes {sorted({row.shape for row in rows})})."
        ) from exc


def _split_batch(item):
    """``(X, y or None)`` of one batch from an iterable of batches."""
    item = _unwrap(item, 2)
    if _is_pair(item, 2):
        return _numpy(item[0]), _numpy(item[1])
    return _numpy(item), None


def _is_batch(item):
    """Whether an item of an IterableDataset is a batch rather than a sample.

    A batch is ``(X_batch, y_batch)`` or ``X_batch`` with 2-D features; a
    sample's features are 1-D.
    """
    item = _unwrap(item, 2)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return np.ndim(item[0]) == 2
    return np.ndim(item) == 2


def _batch_items(data, batch_size):
    """Batches of an IterableDataset of samples (grouped) or of batches (as is)."""
    # A DataLoader draws one number from torch's global generator per pass;
    # doing the same keeps models trained with dropout as they were when
    # IterableDatasets were read through one.
    torch.empty((), dtype=torch.int64).random_()
    samples, n_batches = [], 0
    for item in data:
        if not _is_batch(item):
            samples.append(item)
            if len(samples) == batch_size:
                yield _stack_samples(samples, f"batch {n_batches} of X")
                samples, n_batches = [], n_batches + 1
            continue
        if samples:
            raise ValueError(
                f"batch {n_batches} of X: the IterableDataset yields samples and "
                "then a batch; yield either 1-D samples (x, y) or 2-D batches "
                "(X_batch, y_batch), not both."
            )
        yield _split_batch(item)
        n_batches += 1
    if samples:
        yield _stack_samples(samples, f"batch {n_batches} of X")


class Source:
    """A streamed input, read batch by batch as NumPy arrays.

    Parameters
    ----------
    data : torch.utils.data.Dataset, DataLoader or iterable of batches
        What the user passed as ``X``.
    purpose : {"fit", "predict"}
        A fit reads the data several times, so it refuses one-shot iterators.
    """

    def __init__(self, data, purpose):
        self.data = data
        self.random_access = isinstance(data, Dataset) and not isinstance(
            data, IterableDataset
        )
        if self.random_access and not hasattr(data, "__len__"):
            raise TypeError(
                f"X is a map-style torch Dataset ({type(data).__name__}) without "
                "__len__; the estimators need its number of rows to draw batches."
            )
        if purpose == "fit" and isinstance(data, Iterator):
            raise TypeError(
                f"X is a one-shot iterator ({type(data).__name__}), but fit reads "
                "the data once to check it and once per epoch. Pass an object whose "
                "iter() starts over, such as a torch DataLoader, an IterableDataset, "
                "or a class with an __iter__ method that yields the batches."
            )

    def batches(self, batch_size):
        """``(X, y or None)`` NumPy batches in order; ``batch_size`` where we batch."""
        if self.random_access:
            n_samples = len(self.data)
            for start in range(0, n_samples, batch_size):
                yield self.rows(range(start, min(start + batch_size, n_samples)))
        elif isinstance(self.data, IterableDataset):
            yield from _batch_items(self.data, batch_size)
        else:
            for item in self.data:
                yield _split_batch(item)

    def rows(self, indices):
        """The batch ``(X, y or None)`` of the given rows of a map-style dataset."""
        indices = [int(i) for i in indices]
        fetch = getattr(self.data, "__getitems__", None)
        samples = fetch(indices) if fetch else [self.data[i] for i in indices]
        return _stack_samples(samples, f"rows {indices[0]}..{indices[-1]} of X")


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def passes_check_array(X, n_features=None):
    """Whether ``check_array`` would return ``X`` as it is, without a warning.

    True for the common case, a non-empty 2-D float32 or float64 ndarray of
    finite values with ``n_features`` columns (any number if None): checked
    in microseconds, where ``check_array`` takes tens. Anything else, valid
    or not, is left to ``check_array`` for its conversions and messages.
    NaN and infinities make the sum non-finite (so can an overflow, which
    then takes the full check).
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_DTYPES
        and X.shape[0] > 0
        and 0 < X.shape[1] == (n_features or X.shape[1])
        and bool(np.isfinite(X.sum()))
    )


def check_features(X, where, n_features, fitted_by=None):
    """``X`` checked as ``validate_data`` checks an array; float32 or float64 out.

    ``n_features`` is the number of columns expected: the first batch's, or
    the fitted estimator's when ``fitted_by`` names it.
    """
    if passes_check_array(X, n_features) and (
        X.dtype == np.float32 or np.abs(X).max() <= _FLOAT32_MAX
    ):
        return X
    try:
        X = check_array(X, dtype=(np.float32, np.float64), input_name="X")
    except (TypeError, ValueError) as exc:
        hint = ""
        if np.ndim(X) > 2:
            hint = (
                " Give each sample as a 1-D row of features (x.reshape(-1)); a "
                "custom module can reshape rows back into images."
            )
        raise type(exc)(f"{where}: {exc}{hint}") from exc
    if n_features is not None and X.shape[1] != n_features:
        if fitted_by is not None:
            raise ValueError(
                f"{where} has {X.shape[1]} features, but {fitted_by} is expecting "
                f"{n_features} features as input."
            )
        raise ValueError(
            f"{where} has {X.shape[1]} features, but the first batch had "
            f"{n_features}; every batch needs the same features."
        )
    check_float32_range(X, where)
    return X


def checked_batches(source, batch_size, n_features, fitted_by=None):
    """``(X, y or None, where)`` batches of ``source``, their features checked.

    ``where`` names the batch for error messages; ``n_features`` and
    ``fitted_by`` are as for :func:`check_features`.
    """
    for i, (X, y) in enumerate(source.batches(batch_size)):
        where = f"batch {i} of X"
        yield check_features(X, where, n_features, fitted_by), y, where


def check_labels(y, n_rows, where, check_type=True):
    """``y`` as a 1-D array of ``n_rows`` labels, of a classification type.

    The type check (the costly part) can be left to the first pass.
    """
    try:
        y = column_or_1d(y, warn=False)
    except ValueError as exc:
        raise ValueError(f"{where}: the labels must be 1-D; {exc}") from exc
    if len(y) != n_rows:
        raise ValueError(f"{where} has {n_rows} rows but {len(y)} labels.")
    if not check_type:
        return y
    try:
        check_classification_targets(y)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return y


def as_float32_tensor(X):
    """A float32 tensor of a checked batch (shares memory when already float32).

    A read-only batch (a slice of a memory-mapped file opened with ``mode="r"``)
    is copied, one batch at a time, since torch tensors are writable.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not X.flags.writeable:
        X = X.copy()
    return torch.from_numpy(X)


@dataclass
class Scan:
    """What one checked pass over a source learnt.

    Attributes
    ----------
    n_samples, n_features, n_batches : int
        Sizes; ``n_batches`` at the scanning batch size.
    labels : list of (ndarray or None)
        Each batch's labels, in order; only for map-style datasets.
    uniques : ndarray
        The distinct labels of all rows (``-1`` included, if present).
    unlabelled_batches : int
        Batches without labels.
    """

    n_samples: int
    n_features: int
    n_batches: int
    labels: list
    uniques: np.ndarray
    unlabelled_batches: int


def scan(source, batch_size, *, labels_required, estimator_name):
    """Read ``source`` once, checking every batch; return a :class:`Scan`."""
    n_samples = n_batches = unlabelled = 0
    n_features = None
    kept, uniques = [], []
    for i, (X, y) in enumerate(source.batches(batch_size)):
        where = f"batch {i} of X"
        X = check_features(X, where, n_features)
        n_features = X.shape[1]
        if y is None:
            if labels_required:
                raise ValueError(
                    f"{where} has no labels: {estimator_name}.fit needs (X, y) "
                    "batches, or (x, y) samples from a Dataset."
                )
            unlabelled += 1
        else:
            y = check_labels(y, len(X), where)
            uniques.append(np.unique(y))
        if source.random_access:
            kept.append(y)
        n_samples += len(X)
        n_batches += 1
    if n_batches == 0:
        raise ValueError(f"X ({type(source.data).__name__}) yielded no rows.")
    uniques = np.unique(np.concatenate(uniques)) if uniques else np.empty(0, int)
    return Scan(n_samples, n_features, n_batches, kept, uniques, unlabelled)


def encode_labels(labels, classes):
    """Indices of ``labels`` in ``classes``; ValueError for unknown labels."""
    sorter = np.argsort(classes)
    position = np.searchsorted(classes, labels, sorter=sorter)
    index = sorter[np.clip(position, 0, len(classes) - 1)]
    unknown = classes[index] != labels
    if np.any(unknown):
        raise ValueError(
            f"y contains labels the teacher does not know: "
            f"{sorted(set(np.asarray(labels)[unknown].tolist()))[:10]}; the teacher's "
            f"classes are {classes.tolist()}."
        )
    return index


def labelled_mask(y):
    """True where ``y`` holds a label, False where it holds the marker ``-1``."""
    if y.dtype.kind in "USb":
        return np.ones(len(y), dtype=bool)
    return np.asarray(y != -1, dtype=bool)


def labelled_part(source):
    """The labelled rows of a streamed ``source`` (``-1`` and label-less dropped).

    Re-iterable, so a teacher can train on it for several epochs. Where the
    source yields samples (an IterableDataset), so does this: the teacher
    batches them with its own ``batch_size``. Batches of an iterable of
    batches come as they are, less their unlabelled rows.
    """
    if isinstance(source.data, IterableDataset):
        return _LabelledItems(source.data)
    return _LabelledBatches(source)


def _labelled_batch(X, y):
    """``(X, y)`` less unlabelled rows, or None if none is left."""
    if y is None:
        return None
    y = column_or_1d(y, warn=False)
    mask = labelled_mask(y)
    return (X[mask], y[mask]) if mask.any() else None


class _LabelledBatches:
    def __init__(self, source):
        self.source = source

    def __iter__(self):
        for X, y in self.source.batches(None):
            batch = _labelled_batch(X, y)
            if batch is not None:
                yield batch


class _LabelledItems(IterableDataset):
    def __init__(self, data):
        self.data = data

    def __iter__(self):
        for item in self.data:
            if _is_batch(item):
                batch = _labelled_batch(*_split_batch(item))
                if batch is not None:
                    yield batch
                continue
            item = _unwrap(item, 1)
            if _is_pair(item, 1) and labelled_mask(np.asarray([_numpy(item[1])]))[0]:
                yield item
