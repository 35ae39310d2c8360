"""Real data with hidden subclasses: classes collapsed into superclasses."""

from collections.abc import Mapping

import numpy as np
from sklearn.datasets import load_digits

from ._generators import _check_int

__all__ = ["collapse_classes", "load_digits_superclasses"]


def collapse_classes(y, groups):
    """Collapse class labels into superclasses, keeping them as hidden labels.

    Turns a multiclass problem into one with fewer classes whose original
    classes are known subclasses, such as digits 0-4 versus 5-9.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Original class labels.

    groups : sequence of sequences or mapping
        Which original labels form each superclass. A sequence of sequences
        ``[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]`` maps the labels in the ``i``-th
        sequence to superclass ``i``; a dict ``{"low": [0, 1], "high": [2, 3]}``
        maps them to the key. Every label in ``y`` must be in exactly one group;
        groups may name labels that do not occur in ``y``.

    Returns
    -------
    y_super : ndarray of shape (n_samples,)
        Superclass of each sample: int64 for a sequence of groups, the keys'
        dtype for a dict.

    y_hidden : ndarray of shape (n_samples,)
        The original labels, a copy of ``y``, to be used as hidden subclasses.

    See Also
    --------
    load_digits_superclasses : The digits data collapsed this way.
    sklearn_subdistill.metrics.subclass_recovery_score : Scores subclasses
        against ``y_hidden``.

    Examples
    --------
    >>> from sklearn_subdistill.datasets import collapse_classes
    >>> y_super, y_hidden = collapse_classes([0, 3, 7, 9], [[0, 1, 2, 3, 4],
    ...                                                     [5, 6, 7, 8, 9]])
    >>> y_super
    array([0, 0, 1, 1])
    >>> y_hidden
    array([0, 3, 7, 9])
    >>> collapse_classes(["cat", "dog", "car"],
    ...                  {"animal": ["cat", "dog"], "vehicle": ["car"]})[0]
    array(['animal', 'animal', 'vehicle'], dtype='<U7')
    """
    y_hidden = np.array(y, copy=True)
    if y_hidden.ndim != 1:
        raise ValueError(
            f"y must be a 1-D array of labels, got an array of shape {y_hidden.shape}."
        )
    if isinstance(groups, Mapping):
        superlabels = list(groups.keys())
        members = list(groups.values())
    elif isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise ValueError(
            "groups must be a sequence of sequences of labels or a dict mapping "
            f"superclass labels to sequences of labels, got {groups!r}."
        )
    else:
        members = list(groups)
        superlabels = list(range(len(members)))
    if not members:
        raise ValueError("groups must contain at least one group.")

    superclass_of = {}
    for index, (superlabel, labels) in enumerate(
        zip(superlabels, members, strict=True)
    ):
        if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
            raise ValueError(
                f"Group {superlabel!r} must be a sequence of labels, got {labels!r}."
            )
        labels = list(labels)
        if not labels:
            raise ValueError(f"Group {superlabel!r} is empty.")
        for label in labels:
            if label in superclass_of:
                other = superlabels[superclass_of[label]]
                raise ValueError(
                    f"Label {label!r} is in two groups: {other!r} and {superlabel!r}."
                )
            superclass_of[label] = index

    uniques, inverse = np.unique(y_hidden, return_inverse=True)
    missing = [label for label in uniques.tolist() if label not in superclass_of]
    if missing:
        raise ValueError(f"Labels {missing} of y are in no group.")
    index_of_unique = np.array(
        [superclass_of[label] for label in uniques.tolist()], dtype=np.int64
    )
    y_super = np.asarray(superlabels)[index_of_unique[inverse]]
    if not isinstance(groups, Mapping):
        y_super = y_super.astype(np.int64)
    return y_super, y_hidden


def load_digits_superclasses(n_superclasses=2):
    """Load the digits data with the ten digits collapsed into superclasses.

    The digits ``0, ..., 9`` of :func:`sklearn.datasets.load_digits` are split
    into ``n_superclasses`` contiguous groups, so that the default gives digits
    0-4 as class 0 and 5-9 as class 1, the binary problem of the subclass
    distillation demo on MNIST. The digit is returned as the hidden subclass.

    Parameters
    ----------
    n_superclasses : int, default=2
        Number of superclasses, from 2 to 10. The groups are those of
        ``numpy.array_split(numpy.arange(10), n_superclasses)``, for example
        ``0-3, 4-6, 7-9`` for 3.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float64
        The 8x8 images, flattened and divided by 16 to lie in ``[0, 1]``.

    y : ndarray of shape (1797,), dtype int64
        Superclass of each image.

    y_digit : ndarray of shape (1797,), dtype int64
        The digit of each image, the hidden subclass.

    See Also
    --------
    sklearn.datasets.load_digits : The original data.
    collapse_classes : Collapses any labels into superclasses.

    Examples
    --------
    >>> from sklearn_subdistill.datasets import load_digits_superclasses
    >>> X, y, y_digit = load_digits_superclasses()
    >>> X.shape, float(X.min()), float(X.max())
    ((1797, 64), 0.0, 1.0)
    >>> bool(((y_digit >= 5) == (y == 1)).all())
    True
    """
    n_superclasses = _check_int(n_superclasses, "n_superclasses", 2)
    if n_superclasses > 10:
        raise ValueError(f"n_superclasses must be <= 10, got {n_superclasses}.")
    X, y_digit = load_digits(return_X_y=True)
    groups = [group.tolist() for group in np.array_split(np.arange(10), n_superclasses)]
    y, y_digit = collapse_classes(y_digit.astype(np.int64), groups)
    return X.astype(np.float64) / 16.0, y, y_digit
