"""The three datasets skorch trains on: arrays, rows of a Dataset, a stream.

Each serves whole batches, so that :class:`~._net.BatchIterator` never
collates rows one by one: :class:`ArrayDataset` slices tensors (or a
memory-mapped array), :class:`RowDataset` draws rows of the user's map-style
Dataset by index, :class:`BatchStream` yields an iterable's batches as they
come.
"""

import warnings

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from ._distributed import shard
from ._streaming import as_float32_tensor, check_features, check_labels, checked_batches

__all__ = ["ArrayDataset", "BatchStream", "RowDataset"]


def _float_tensor(X):
    """A float32 tensor view of ``X`` where possible, a copy otherwise."""
    if isinstance(X, torch.Tensor):
        return X.float()
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.flags.writeable:
        return torch.from_numpy(X)
    # A read-only buffer (e.g. np.memmap opened with mode="r"): share it rather
    # than copy it, so data larger than memory stay on disk. torch warns that
    # writing would be undefined; nothing here writes to X.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writ")
        return torch.from_numpy(X)


class ArrayDataset(Dataset):
    """Features and targets held whole, served in slices.

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n_samples, n_features)
        Features. An ndarray is converted to float32 one batch at a time, so
        inference over a large array never holds a float32 copy of all of it.
    y : torch.Tensor, tuple of torch.Tensor, or None
        Targets, indexed along their first dimension like ``X``.
    contiguous : bool, default=False
        Shuffle by contiguous runs of rows rather than row by row: for ``X``
        memory-mapped from disk, where a batch of scattered rows would read a
        page per row.
    rows : ndarray of int or None, default=None
        For an ndarray ``X``: the (sorted) rows of ``X`` this dataset holds,
        read batch by batch, so that a validation split of a memory-mapped
        ``X`` copies nothing. All rows if None.
    """

    def __init__(self, X, y=None, contiguous=False, rows=None):
        self.X = X
        self.y = y
        self.contiguous = contiguous
        self.rows = rows

    def __len__(self):
        return len(self.X) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        return self.take(i)

    def to(self, device):
        """A copy whose tensors live on ``device`` (``X`` becomes a tensor)."""
        X = self.X if self.rows is None else self.X[self.rows]
        return ArrayDataset(_float_tensor(X).to(device), _map(self.y, device))

    def take(self, index):
        """The batch ``(X[index], y[index])``; ``index`` a slice or index tensor."""
        if self.rows is None:
            X = self.X[index]
        elif isinstance(index, slice):
            X = self.X[self.rows[index]]
        else:
            X = self.X[self.rows[index.cpu().numpy()]]
        if not isinstance(X, torch.Tensor):
            X = _float_tensor(X)
        return X, _map(self.y, index=index)

    def subset(self, index):
        """A dataset of the rows in ``index`` (for the validation split).

        Tensors are indexed at once; an ndarray (memory-mapped, say) is not
        copied: the subset keeps the sorted row numbers and reads its batches
        from ``X`` when they are taken.
        """
        if isinstance(self.X, torch.Tensor):
            index = torch.as_tensor(index)
            return ArrayDataset(
                self.X[index.to(self.X.device)],
                _map(self.y, index=index),
                self.contiguous,
            )
        index = np.sort(np.asarray(index))
        rows = index if self.rows is None else self.rows[index]
        return ArrayDataset(
            self.X, _map(self.y, index=torch.from_numpy(index)), self.contiguous, rows
        )


def _map(y, device=None, index=None):
    """Move or index ``y``, a tensor, a tuple of tensors or None."""
    if y is None:
        return None
    if isinstance(y, (tuple, list)):
        return tuple(_map(part, device, index) for part in y)
    if device is not None:
        return y.to(device)
    if isinstance(index, torch.Tensor):
        index = index.to(y.device)
    return y[index]


def _index(targets, index):
    if targets is None:
        return None
    if isinstance(targets, tuple):
        return tuple(_index(part, index) for part in targets)
    return targets[index]


class RowDataset(Dataset):
    """Rows of a map-style dataset drawn by index, with their targets in memory.

    The same interface as :class:`~sklearn_subdistill._net.ArrayDataset`
    (``take`` and ``subset``), so :class:`~sklearn_subdistill._net.BatchIterator`
    shuffles and batches it the same way.

    Parameters
    ----------
    source : Source
        The user's dataset.
    targets : torch.Tensor, tuple of torch.Tensor, or None
        One entry per row of this dataset.
    n_features : int
        Columns every row must have.
    rows : ndarray of int or None, default=None
        The rows of ``source`` this dataset holds (a validation split);
        all of them if None.
    """

    contiguous = False

    def __init__(self, source, targets, n_features, rows=None):
        self.source = source
        self.targets = targets
        self.n_features = n_features
        self.rows = rows

    def __len__(self):
        return len(self.source.data) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        return self.take(torch.as_tensor([i]))

    def take(self, index):
        """The batch ``(X[index], targets[index])``; ``index`` a slice or tensor."""
        if isinstance(index, slice):
            positions = np.arange(len(self))[index]
        else:
            positions = index.cpu().numpy()
        rows = positions if self.rows is None else self.rows[positions]
        X, _ = self.source.rows(rows)
        X = check_features(X, f"rows {rows[0]}..{rows[-1]} of X", self.n_features)
        return as_float32_tensor(X), _index(self.targets, torch.from_numpy(positions))

    def subset(self, index):
        """A dataset of the rows at positions ``index`` (the validation split)."""
        index = np.asarray(index)
        rows = index if self.rows is None else self.rows[index]
        targets = _index(self.targets, torch.from_numpy(index))
        return RowDataset(self.source, targets, self.n_features, rows)


class BatchStream(IterableDataset):
    """An iterable of batches, checked and made tensors one batch at a time.

    Parameters
    ----------
    source : Source
        The user's iterable.
    n_features : int
        Columns every batch must have.
    n_batches : int
        Batches per pass, as counted by :func:`scan`.
    batch_size : int
        Rows per batch where the source yields samples (an IterableDataset).
    targets : callable
        ``targets(X, y, where)`` -> tensor or tuple of tensors for one batch.
    """

    def __init__(self, source, n_features, n_batches, batch_size, targets):
        self.source = source
        self.n_features = n_features
        self.n_batches = n_batches
        self.batch_size = batch_size
        self.targets = targets

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        return self.batches()

    def batches(self, distributed=False):
        """The batches; with ``distributed``, this process's share of each."""
        for X, y, where in checked_batches(
            self.source, self.batch_size, self.n_features
        ):
            if distributed:
                # Every process reads the whole batch and keeps its share,
                # before the targets (a student's teacher logits) are computed.
                X = X[shard(slice(0, len(X)))]
                y = None if y is None else y[shard(slice(0, len(y)))]
            if y is not None:
                # Their type was checked by scan, the first pass.
                y = check_labels(y, len(X), where, check_type=False)
            yield as_float32_tensor(X), self.targets(X, y, where)
