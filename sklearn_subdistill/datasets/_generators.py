"""Generators of data whose classes hide subclasses."""

import numbers

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.utils import check_random_state

__all__ = ["make_clickthrough", "make_subclass_classification"]

# Population above which distinct grid points are drawn by rejection, not by
# enumerating the population.
_MAX_ENUMERATED = 1_000_000


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)


def _check_positive_float(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}.")
    return float(value)


def _default_n_informative(n_classes, n_subclasses):
    # Smallest d >= 2 with n_classes ** (d - 1) >= n_subclasses: each class owns
    # n_classes ** (d - 1) points of the grid.
    n_informative = 2
    while n_classes ** (n_informative - 1) < n_subclasses:
        n_informative += 1
    return n_informative


def _sample_distinct_rows(n_rows, n_columns, n_values, rng):
    """Draw `n_rows` distinct rows from {0, ..., n_values - 1} ** n_columns."""
    population = n_values**n_columns
    if population <= _MAX_ENUMERATED:
        flat = rng.choice(population, size=n_rows, replace=False)
        # Base-n_values digits of each index: (n_rows,) -> (n_rows, n_columns).
        powers = n_values ** np.arange(n_columns)
        return (flat[:, None] // powers[None, :]) % n_values
    rows = rng.randint(n_values, size=(n_rows, n_columns))
    while len(np.unique(rows, axis=0)) < n_rows:
        rows = np.unique(rows, axis=0)
        extra = rng.randint(n_values, size=(n_rows - len(rows), n_columns))
        rows = np.vstack([rows, extra])
    return rows


def make_subclass_classification(
    n_samples=1000,
    n_features=20,
    n_classes=2,
    n_subclasses=5,
    n_informative=None,
    class_sep=2.0,
    cluster_std=1.0,
    random_state=None,
    shuffle=True,
):
    """Generate a classification problem whose classes are unions of clusters.

    Each class is the union of ``n_subclasses`` isotropic Gaussian clusters, the
    hidden subclasses. Cluster centres are points of a regular grid with
    ``n_classes`` values per axis in an informative subspace, and a centre with
    grid coordinates ``g`` belongs to class ``sum(g) % n_classes``. This is a
    checkerboard (a parity problem for two classes): clusters of different
    classes interleave, so no linear model separates the classes, while
    neighbouring clusters are ``2 * class_sep`` apart and the subclasses can be
    recovered. The remaining features are standard normal noise.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples, split as evenly as possible over the
        ``n_classes * n_subclasses`` clusters. At least one per cluster.

    n_features : int, default=20
        Total number of features: ``n_informative`` informative features followed
        by ``n_features - n_informative`` noise features.

    n_classes : int, default=2
        Number of classes, at least 2.

    n_subclasses : int, default=5
        Number of hidden subclasses (clusters) per class.

    n_informative : int, default=None
        Dimension of the grid the cluster centres lie on. Each class owns
        ``n_classes ** (n_informative - 1)`` grid points, which must be at least
        ``n_subclasses``. If None, the smallest such value that is at least 2.

    class_sep : float, default=2.0
        Half the distance between neighbouring grid points. Larger values make
        the subclasses easier to tell apart.

    cluster_std : float, default=1.0
        Standard deviation of each cluster in the informative features.

    random_state : int, RandomState instance or None, default=None
        Determines the cluster centres, the samples and the shuffling. Pass an
        int for reproducible output.

    shuffle : bool, default=True
        Whether to shuffle the samples. If False, samples are ordered by
        subclass.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        The samples. The first ``n_informative`` columns are informative.

    y : ndarray of shape (n_samples,), dtype int64
        Class of each sample, in ``[0, n_classes)``.

    y_subclass : ndarray of shape (n_samples,), dtype int64
        Hidden subclass of each sample, in ``[0, n_classes * n_subclasses)``.
        Subclass ``k`` belongs to class ``k // n_subclasses``, the block layout
        of a subclass teacher's logits.

    See Also
    --------
    sklearn.datasets.make_classification : Clusters on hypercube vertices with
        random class assignment, without the hidden cluster labels.
    make_clickthrough : Binary click-like data with hidden user segments.

    Notes
    -----
    For each class ``c``, ``n_subclasses`` distinct grid points are drawn
    uniformly from those with ``sum(g) % n_classes == c`` by drawing the first
    ``n_informative - 1`` coordinates and solving for the last one. A grid point
    ``g`` becomes the centre ``class_sep * (2 * g - (n_classes - 1))``, so the
    grid is centred on the origin.

    Examples
    --------
    >>> from sklearn_subdistill.datasets import make_subclass_classification
    >>> X, y, y_subclass = make_subclass_classification(
    ...     n_samples=100, n_features=6, n_classes=2, n_subclasses=3,
    ...     random_state=0)
    >>> X.shape, y.shape, y_subclass.shape
    ((100, 6), (100,), (100,))
    >>> sorted(set(y_subclass.tolist()))
    [0, 1, 2, 3, 4, 5]
    >>> bool((y_subclass // 3 == y).all())
    True
    """
    n_classes = _check_int(n_classes, "n_classes", 2)
    n_subclasses = _check_int(n_subclasses, "n_subclasses", 1)
    n_clusters = n_classes * n_subclasses
    n_samples = _check_int(n_samples, "n_samples", 1)
    if n_samples < n_clusters:
        raise ValueError(
            f"n_samples must be >= n_classes * n_subclasses = {n_clusters} so that "
            f"every subclass has a sample, got {n_samples}."
        )
    n_features = _check_int(n_features, "n_features", 1)
    if n_informative is None:
        n_informative = _default_n_informative(n_classes, n_subclasses)
        if n_informative > n_features:
            raise ValueError(
                f"n_features={n_features} is too small: {n_classes} classes with "
                f"{n_subclasses} subclasses each need n_informative >= "
                f"{n_informative} informative features."
            )
    else:
        n_informative = _check_int(n_informative, "n_informative", 1)
        if n_informative > n_features:
            raise ValueError(
                f"n_informative must be <= n_features={n_features}, got "
                f"{n_informative}."
            )
        if n_classes ** (n_informative - 1) < n_subclasses:
            raise ValueError(
                f"n_informative={n_informative} gives each class only "
                f"{n_classes ** (n_informative - 1)} grid points, fewer than "
                f"n_subclasses={n_subclasses}; increase n_informative."
            )
    class_sep = _check_positive_float(class_sep, "class_sep")
    cluster_std = _check_positive_float(cluster_std, "cluster_std")
    rng = check_random_state(random_state)

    grid = np.empty((n_clusters, n_informative), dtype=np.int64)
    for c in range(n_classes):
        free = _sample_distinct_rows(n_subclasses, n_informative - 1, n_classes, rng)
        last = (c - free.sum(axis=1)) % n_classes
        grid[c * n_subclasses : (c + 1) * n_subclasses] = np.column_stack([free, last])
    centers = class_sep * (2.0 * grid - (n_classes - 1))

    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1
    y_subclass = np.repeat(np.arange(n_clusters, dtype=np.int64), sizes)
    y = y_subclass // n_subclasses

    X = rng.standard_normal(size=(n_samples, n_features))
    X[:, :n_informative] *= cluster_std
    X[:, :n_informative] += centers[y_subclass]

    if shuffle:
        order = rng.permutation(n_samples)
        X, y, y_subclass = X[order], y[order], y_subclass[order]
    return X, y, y_subclass


def make_clickthrough(
    n_samples=10000,
    n_segments=8,
    positive_rate=0.05,
    n_numeric=6,
    n_categorical=3,
    n_categories=5,
    interactions=0.0,
    random_state=None,
    as_frame=False,
):
    """Generate click-through data with hidden user segments.

    Each sample is a user from one of ``n_segments`` hidden segments. The
    segment shifts the means of the numeric features and the category
    frequencies of the categorical features, and each segment has its own
    logistic model of the click probability over the features, so the same
    features can mean a click in one segment and none in another. A shared
    intercept is solved so that the mean click probability equals
    ``positive_rate``, and the clicks are drawn from these probabilities.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of samples.

    n_segments : int, default=8
        Number of hidden user segments.

    positive_rate : float, default=0.05
        Mean click probability, in ``(0, 1)``. The mean of ``y`` equals it up
        to sampling noise.

    n_numeric : int, default=6
        Number of numeric features.

    n_categorical : int, default=3
        Number of categorical features.

    n_categories : int, default=5
        Number of categories of each categorical feature, at least 2.

    interactions : float, default=0.0
        Scale (>= 0) of pairwise interactions of the numeric features in each
        segment's click model. ``0`` gives one logistic model per segment,
        which a small network learns as well as a big one; larger values add
        a quadratic form per segment, so that a big network learns more than
        a small one from the same labels.

    random_state : int, RandomState instance or None, default=None
        Determines the segments, their models and the samples. Pass an int for
        reproducible output.

    as_frame : bool, default=False
        If True, return a pandas DataFrame with categorical columns of dtype
        ``category`` and pandas Series for ``y`` and ``segment``; this requires
        pandas.

    Returns
    -------
    X : ndarray or DataFrame
        The features. As a float64 array of shape
        ``(n_samples, n_numeric + n_categorical * n_categories)``: the numeric
        features ``num_0, num_1, ...``, then, for each categorical feature
        ``cat_j`` in order, its ``n_categories`` one-hot columns for categories
        ``0, 1, ...``. As a DataFrame of shape
        ``(n_samples, n_numeric + n_categorical)``: float columns
        ``num_0, ...`` and ``category`` columns ``cat_0, ...`` with categories
        ``0, ..., n_categories - 1``.

    y : ndarray of shape (n_samples,), dtype int64, or Series
        Whether the user clicked (1) or not (0). Named ``click`` as a Series.

    segment : ndarray of shape (n_samples,), dtype int64, or Series
        Hidden segment of each user, in ``[0, n_segments)``. Named ``segment``
        as a Series.

    See Also
    --------
    make_subclass_classification : Classes that are unions of Gaussian
        clusters.

    Notes
    -----
    Segment proportions are drawn from a Dirichlet(2, ..., 2) distribution.
    Within segment ``k``, numeric features are normal with unit variance around
    a segment mean drawn from a standard normal, and each categorical feature
    has category frequencies drawn from a flat Dirichlet. The click logit is
    ``b + b_k + w_k @ x`` with ``x`` the one-hot encoded features, ``b_k`` and
    ``w_k`` drawn per segment, and ``b`` the shared intercept solved by
    :func:`scipy.optimize.brentq` so that the mean of ``expit(logit)`` over the
    drawn samples is ``positive_rate``.

    The click-through setting, with few classes and unknown subclasses, is one
    of the motivating problems of subclass distillation [1]_.

    References
    ----------
    .. [1] R. Müller, S. Kornblith and G. Hinton, "Subclass Distillation",
       arXiv:2002.03936, 2020.

    Examples
    --------
    >>> from sklearn_subdistill.datasets import make_clickthrough
    >>> X, y, segment = make_clickthrough(n_samples=2000, random_state=0)
    >>> X.shape
    (2000, 21)
    >>> bool(abs(y.mean() - 0.05) < 0.02)
    True
    >>> X_df, y, segment = make_clickthrough(
    ...     n_samples=5, n_numeric=1, n_categorical=1, random_state=0,
    ...     as_frame=True)
    >>> X_df.dtypes.astype(str).tolist()
    ['float64', 'category']
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_segments = _check_int(n_segments, "n_segments", 1)
    if isinstance(positive_rate, bool) or not isinstance(positive_rate, numbers.Real):
        raise ValueError(f"positive_rate must be a real number, got {positive_rate!r}.")
    if not 0 < positive_rate < 1:
        raise ValueError(f"positive_rate must be in (0, 1), got {positive_rate}.")
    n_numeric = _check_int(n_numeric, "n_numeric", 0)
    n_categorical = _check_int(n_categorical, "n_categorical", 0)
    n_categories = _check_int(n_categories, "n_categories", 2)
    _check_positive_float(interactions, "interactions", allow_zero=True)
    if n_numeric + n_categorical == 0:
        raise ValueError("n_numeric and n_categorical must not both be 0.")
    rng = check_random_state(random_state)

    proportions = rng.dirichlet(np.full(n_segments, 2.0))
    segment = rng.choice(n_segments, size=n_samples, p=proportions).astype(np.int64)

    numeric_means = rng.standard_normal(size=(n_segments, n_numeric))
    numeric = numeric_means[segment] + rng.standard_normal(size=(n_samples, n_numeric))

    # (n_segments, n_categorical, n_categories) category frequencies per segment.
    frequencies = rng.dirichlet(np.ones(n_categories), size=(n_segments, n_categorical))
    cumulative = frequencies.cumsum(axis=2)[segment]  # (n_samples, n_cat, n_cats)
    uniform = rng.uniform(size=(n_samples, n_categorical, 1))
    codes = (uniform > cumulative).sum(axis=2)
    codes = np.minimum(codes, n_categories - 1)  # guards against cumsum rounding
    one_hot = np.eye(n_categories)[codes].reshape(n_samples, -1)

    X = np.hstack([numeric, one_hot])
    # One logistic model per segment, its weights scaled so that the spread of
    # the logits does not grow with the number of features.
    n_inputs = n_numeric + n_categorical
    weights = rng.normal(scale=1.5 / np.sqrt(n_inputs), size=(n_segments, X.shape[1]))
    offsets = rng.normal(scale=1.0, size=n_segments)
    logits = np.einsum("ij,ij->i", X, weights[segment]) + offsets[segment]
    if interactions and n_numeric:
        # (n_segments, n_numeric, n_numeric) symmetric quadratic forms, drawn
        # after everything else so that interactions=0 leaves the data as is.
        forms = rng.normal(size=(n_segments, n_numeric, n_numeric))
        forms = (forms + forms.transpose(0, 2, 1)) / (2 * n_numeric)
        centred = numeric - numeric_means[segment]
        quadratic = np.einsum("ni,nij,nj->n", centred, forms[segment], centred)
        logits = logits + interactions * quadratic

    def excess_rate(intercept):
        return expit(logits + intercept).mean() - positive_rate

    bound = np.abs(logits).max() + 50.0
    intercept = brentq(excess_rate, -bound, bound, xtol=1e-12)
    y = (rng.uniform(size=n_samples) < expit(logits + intercept)).astype(np.int64)

    if not as_frame:
        return X, y, segment

    import pandas as pd

    columns = {f"num_{j}": numeric[:, j] for j in range(n_numeric)}
    categories = list(range(n_categories))
    for j in range(n_categorical):
        columns[f"cat_{j}"] = pd.Categorical.from_codes(
            codes[:, j], categories=categories
        )
    frame = pd.DataFrame(columns)
    return (
        frame,
        pd.Series(y, index=frame.index, name="click"),
        pd.Series(segment, index=frame.index, name="segment"),
    )
