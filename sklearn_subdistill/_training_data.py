"""The one training-data object: any input ``fit`` accepts, checked once.

:func:`read_training_data` turns what the user passed to ``fit`` -- an array
(memory-mapped or not) with its labels, a map-style torch ``Dataset`` or an
iterable of batches -- into a :class:`TrainingData`: the number of features,
the input's column names, the labels of the labelled rows, which rows are
unlabelled (a student's ``-1``), and, once the estimator knows its classes
and targets, the dataset skorch trains on. Estimators never ask which kind of
input they were given. It reads the estimator's resolved
:class:`~._params.NetworkConfig`, never the estimator, and sets nothing on it:
the estimator records what it learnt.
"""

import mmap
import warnings

import numpy as np
import torch
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    _get_feature_names,
    check_array,
    check_X_y,
)

from ._streaming import (
    STREAM_NAME,
    Source,
    check_float32_range,
    checked_batches,
    encode_labels,
    is_stream,
    labelled_mask,
    labelled_part,
    scan,
)
from ._torch_datasets import ArrayDataset, BatchStream, RowDataset

#: Rows per batch at inference: large enough to keep the device busy, small
#: enough that memory stays bounded by the batch, not by the number of rows.
INFERENCE_BATCH_SIZE = 8192


def read_training_data(
    config, X, y, *, semi_supervised, sample_weight=None, fitted_columns=None
):
    """Check ``fit``'s input; return a :class:`TrainingData`.

    ``config`` is the estimator's :class:`~._params.NetworkConfig`. The
    result's ``n_features`` and ``feature_names`` (a DataFrame's columns)
    are for the estimator to record as ``n_features_in_`` and
    ``feature_names_in_``. ``fitted_columns``, ``(n_features_in_,
    feature_names_in_)`` of a fit that continues, has array input checked
    against them, as ``validate_data(reset=False)`` does. With
    ``semi_supervised``, ``-1`` marks unlabelled rows and ``y`` may be None;
    otherwise every row needs a label. ``sample_weight`` (arrays only) must be
    finite and non-negative, and not all 0.
    """
    if is_stream(X):
        return _read_stream(config, X, y, semi_supervised, sample_weight)
    # As validate_data checks them, with config.name in the messages.
    feature_names = _get_feature_names(X)
    if fitted_columns is not None:
        _check_feature_names(config.name, fitted_columns[1], feature_names)
    dtype = (np.float32, np.float64)
    if y is None and semi_supervised:
        X = check_array(X, input_name="X", dtype=dtype, estimator=config.name)
        labelled = np.zeros(len(X), dtype=bool)
    else:
        if y is None:
            raise ValueError(
                f"This {config.name} estimator requires y to be passed, but the "
                "target y is None."
            )
        X, y = check_X_y(X, y, dtype=dtype, estimator=config.name)
        labelled = labelled_mask(y) if semi_supervised else np.ones(len(y), bool)
        if labelled.any():
            check_classification_targets(y[labelled])
    if fitted_columns is not None and X.shape[1] != fitted_columns[0]:
        raise ValueError(
            f"X has {X.shape[1]} features, but {config.name} is expecting "
            f"{fitted_columns[0]} features as input."
        )
    check_float32_range(X)
    if sample_weight is not None:
        # A copy: the caller's array is never written to.
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
        )
    values = y[labelled] if labelled.any() else np.empty(0)
    return ArrayData(X, values, labelled, sample_weight, feature_names)


def _check_feature_names(name, fitted, names):
    """Warn or raise as ``validate_data(reset=False)`` does for column names."""
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names",
            UserWarning,
            stacklevel=4,
        )
    elif names is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with "
            "feature names",
            UserWarning,
            stacklevel=4,
        )
    elif len(fitted) != len(names) or np.any(fitted != names):
        unseen = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        message = "The feature names should match those that were passed during fit.\n"
        for title, group in (
            ("Feature names unseen at fit time:\n", unseen),
            ("Feature names seen at fit time, yet now missing:\n", missing),
        ):
            if group:
                message += title + "".join(f"- {n}\n" for n in group[:5])
                message += "- ...\n" if len(group) > 5 else ""
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def _read_stream(config, X, y, semi_supervised, sample_weight):
    name = config.name
    if sample_weight is not None or config.class_weight:
        what = "sample_weight" if sample_weight is not None else "class_weight"
        raise ValueError(
            f"{what} is supported when X is an array; {name} cannot weight the "
            f"rows of {STREAM_NAME} ({type(X).__name__}). Pass X and y as arrays "
            "(memory-mapped if large), or repeat rows in the stream instead."
        )
    if y is not None:
        raise ValueError(
            f"y must be None when X is {STREAM_NAME} ({type(X).__name__}): "
            f"{name} reads the labels from X's samples or batches, (x, y) pairs."
        )
    source = Source(X, "fit")
    if config.early_stopping and not source.random_access:
        raise ValueError(
            f"early_stopping=True needs a validation split drawn by index, which "
            f"an iterable of batches ({type(X).__name__}) cannot give. Pass a "
            "map-style torch Dataset (len and [i]) instead, or set "
            "early_stopping=False."
        )
    seen = scan(
        source,
        config.batch_size,
        labels_required=not semi_supervised,
        estimator_name=name,
    )
    if source.random_access:
        return RowData(source, seen, config.batch_size, semi_supervised)
    return BatchData(source, seen, config.batch_size, semi_supervised)


class TrainingData:
    """Rows to train on, checked; the base of the three kinds of input.

    Attributes
    ----------
    n_features : int
        Columns of every row.
    feature_names : ndarray or None
        The names of the columns (of a DataFrame), or None.
    labelled_classes : ndarray
        The distinct labels of the labelled rows.
    n_unlabelled : int or None
        Rows marked unlabelled; None when there are some but they were not
        counted (an iterable of batches).
    """

    #: The weights of the labelled rows (``labelled_input``'s), or None.
    labelled_weight = None
    feature_names = None

    def labelled_input(self):
        """The positional arguments of ``teacher.fit`` on the labelled rows."""
        raise NotImplementedError

    def dataset(
        self, classes, extra_targets, device, class_weight=None, float_dtype=None
    ):
        """The dataset skorch trains on, and the stratification labels (or None).

        Each row's target is its class index in ``classes`` (``-1`` for an
        unlabelled row), followed by what ``extra_targets(X_part)`` returns
        for it, if ``extra_targets`` is not None: a tuple of arrays with one
        row per row of ``X_part``; then, if the rows are weighted (by
        ``sample_weight`` times ``class_weight``, unlabelled rows taking a
        class weight of 1), the row's weight, as ``float_dtype`` (float32 if
        None; float64 for a network trained in float64).
        """
        raise NotImplementedError


def _targets(y_index, extra_targets, X, weight=None, float_dtype=None):
    y_index = torch.from_numpy(y_index)
    extras = extra_targets(X) if extra_targets is not None else ()
    columns = [torch.from_numpy(part) for part in extras]
    if weight is not None:
        columns.append(torch.from_numpy(weight.astype(float_dtype or np.float32)))
    if not columns:
        return y_index
    return (y_index, *columns)


class ArrayData(TrainingData):
    """An array ``X`` held (or memory-mapped) whole, with its labels and weights."""

    def __init__(self, X, values, labelled, sample_weight=None, feature_names=None):
        self.X = X
        self.feature_names = feature_names
        self.values = values
        self.labelled = labelled
        self.sample_weight = sample_weight
        self.n_features = X.shape[1]
        self.labelled_classes = np.unique(values)
        self.n_unlabelled = int((~labelled).sum())
        if sample_weight is not None:
            self.labelled_weight = sample_weight[labelled]

    def labelled_input(self):
        return self.X[self.labelled], self.values

    def row_weights(self, class_weight):
        """Each row's weight, or None if every row weighs 1."""
        weight = self.sample_weight
        if class_weight is not None and self.labelled.any():
            per_class = np.ones(len(self.labelled))
            per_class[self.labelled] = compute_sample_weight(class_weight, self.values)
            weight = per_class if weight is None else weight * per_class
        if weight is None or np.all(weight == 1):
            return None
        return weight

    def dataset(
        self, classes, extra_targets, device, class_weight=None, float_dtype=None
    ):
        y_index = _encode(self.values, self.labelled, classes)
        weight = self.row_weights(class_weight)
        X = self.X
        if weight is not None and not weight.all() and not _is_memory_mapped(X):
            # Rows of weight 0 are dropped: the fit is the one without them,
            # batch for batch. (On disk they stay, and weigh nothing in the loss.)
            kept = weight > 0
            X, y_index, weight = X[kept], y_index[kept], weight[kept]
            if np.all(weight == 1):
                weight = None
        targets = _targets(y_index, extra_targets, X, weight, float_dtype)
        return _array_dataset(X, targets, device), y_index


class RowData(TrainingData):
    """A map-style torch Dataset: rows drawn by index, labels held in memory."""

    def __init__(self, source, seen, batch_size, semi_supervised):
        self.source = source
        self.n_features = seen.n_features
        # Which rows are labelled, and their labels, in row order.
        self.labelled = np.zeros(seen.n_samples, dtype=bool)
        values = []
        for i, part in enumerate(seen.labels):
            if part is not None:
                mask = (
                    labelled_mask(part) if semi_supervised else np.ones(len(part), bool)
                )
                start = i * batch_size
                self.labelled[start : start + len(part)] = mask
                values.append(part[mask])
        self.values = np.concatenate(values) if values else np.empty(0)
        self.labelled_classes = np.unique(self.values)
        self.n_unlabelled = int((~self.labelled).sum())

    def labelled_input(self):
        if not self.n_unlabelled:
            return (self.source.data,)
        rows = np.flatnonzero(self.labelled).tolist()
        return (torch.utils.data.Subset(self.source.data, rows),)

    def dataset(
        self, classes, extra_targets, device, class_weight=None, float_dtype=None
    ):
        y_index = _encode(self.values, self.labelled, classes)
        targets = torch.from_numpy(y_index)
        if extra_targets is not None:
            parts = [
                extra_targets(X)
                for X, _, _ in checked_batches(
                    self.source, INFERENCE_BATCH_SIZE, self.n_features
                )
            ]
            extras = (np.concatenate(column) for column in zip(*parts, strict=True))
            targets = (targets, *(torch.from_numpy(part) for part in extras))
        return RowDataset(self.source, targets, self.n_features), y_index


class BatchData(TrainingData):
    """An iterable of batches: read one batch at a time, labels and all."""

    def __init__(self, source, seen, batch_size, semi_supervised):
        self.source = source
        self.seen = seen
        self.batch_size = batch_size
        self.semi_supervised = semi_supervised
        self.n_features = seen.n_features
        classes = seen.uniques
        if semi_supervised and classes.dtype.kind not in "USb":
            classes = classes[classes != -1]
        self.labelled_classes = classes
        has_unlabelled = seen.unlabelled_batches or len(classes) < len(seen.uniques)
        self.n_unlabelled = None if has_unlabelled else 0  # None: not counted

    def labelled_input(self):
        return (labelled_part(self.source),)

    def dataset(
        self, classes, extra_targets, device, class_weight=None, float_dtype=None
    ):
        semi_supervised = self.semi_supervised

        def targets(X_batch, y_batch, where):
            y_index = np.full(len(X_batch), -1, dtype=np.int64)
            if y_batch is None:
                if not semi_supervised:
                    raise ValueError(f"{where} has no labels.")
            else:
                mask = labelled_mask(y_batch) if semi_supervised else slice(None)
                y_index[mask] = encode_labels(y_batch[mask], classes)
            return _targets(y_index, extra_targets, X_batch)

        if extra_targets is not None:
            # Those of the first batch are checked before training.
            batches = checked_batches(self.source, self.batch_size, self.n_features)
            targets(*next(batches))
            batches.close()
        stream = BatchStream(
            self.source,
            self.n_features,
            self.seen.n_batches,
            self.batch_size,
            targets,
        )
        return stream, None


def _encode(values, labelled, classes):
    """Class indices of every row, ``-1`` for the unlabelled ones."""
    y_index = np.full(len(labelled), -1, dtype=np.int64)
    if labelled.any():
        y_index[labelled] = encode_labels(values, classes)
    return y_index


def _array_dataset(X, targets, device):
    """The training data as tensors on ``device``, or on the host if too large.

    On CUDA, data that would take more than half of the free device memory
    stay in host memory; batches are then copied to the device one by one.
    """
    if _is_memory_mapped(X):
        # Rows stay on disk: batches are contiguous runs converted one by one.
        return ArrayDataset(X, targets, contiguous=True)
    host = ArrayDataset(X, targets)
    if not device.startswith("cuda"):
        return host.to(device)
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    if X.shape[0] * X.shape[1] * 4 < free / 2:
        try:
            return host.to(device)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
    warnings.warn(
        "The training data do not fit comfortably on the GPU; streaming batches "
        "from host memory (slower).",
        UserWarning,
        stacklevel=5,
    )
    return host.to("cpu")


def _is_memory_mapped(X):
    """Whether ``X`` (or an array it is a view of) is mapped from a file."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False
