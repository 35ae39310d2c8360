"""Metrics for subclasses invented by a teacher."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics.cluster import contingency_matrix

__all__ = ["subclass_recovery_score"]


def _check_labels(labels, name):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of labels, got an array of shape "
            f"{labels.shape}."
        )
    if labels.shape[0] == 0:
        raise ValueError(f"{name} must not be empty.")
    return labels


def subclass_recovery_score(y_hidden, y_subclass, *, matching="one-to-one"):
    r"""Accuracy of the best matching of subclasses to hidden classes.

    A teacher that invents subclasses numbers them arbitrarily, so its subclass
    ``3`` may correspond to the true hidden class ``"dog"``. This score finds the
    one-to-one matching between invented subclasses and hidden classes that
    agrees with the most samples, and returns the fraction of samples on which
    the matched labels agree. It is the subclass-recovery measure of Müller et al.
    (2020) and is also known as the unsupervised clustering accuracy.

    Parameters
    ----------
    y_hidden : array-like of shape (n_samples,)
        True hidden classes, for example the original digit of a superclass
        problem. Any labels that :func:`numpy.unique` can sort.

    y_subclass : array-like of shape (n_samples,)
        Invented subclasses, for example the argmax over a teacher's subclass
        probabilities. Any labels that :func:`numpy.unique` can sort.
    matching : {"one-to-one", "many-to-one"}, default="one-to-one"
        ``"one-to-one"`` (the paper's measure) matches each hidden class with
        at most one subclass, so a hidden class split over two subclasses
        counts the smaller part as wrong. ``"many-to-one"`` matches every
        subclass with its most common hidden class (the purity of the
        subclasses): a hidden class split over several subclasses is not
        penalised, which suits a teacher with more subclasses than hidden
        classes (the default ``n_subclasses=10`` against 5 digits per class),
        but it grows with the number of subclasses and reaches 1 with one
        subclass per sample, so compare it only at equal numbers of
        subclasses.

    Returns
    -------
    score : float
        Fraction of samples, in ``[0, 1]``, whose subclass is matched to their
        hidden class. ``1.0`` means the subclasses are the hidden classes up to
        renaming.

    See Also
    --------
    sklearn.metrics.cluster.contingency_matrix : Counts of label pairs that the
        matching is computed on.
    sklearn.metrics.adjusted_rand_score : A matching-free agreement between
        two labelings, adjusted for chance.
    scipy.optimize.linear_sum_assignment : The solver that finds the matching.

    Notes
    -----
    Let :math:`M` be the contingency matrix, :math:`M_{ij}` the number of samples
    of hidden class :math:`i` put in subclass :math:`j`. The score is

    .. math::

        \max_{\pi} \frac{1}{n} \sum_i M_{i, \pi(i)},

    the maximum over one-to-one matchings :math:`\pi`, which
    :func:`scipy.optimize.linear_sum_assignment` solves exactly. When the numbers
    of subclasses and hidden classes differ, only ``min(n_hidden, n_subclasses)``
    pairs are matched and every sample in an unmatched class or subclass counts
    as an error, so splitting one hidden class over two subclasses is penalised.

    The score is invariant to renaming subclasses or hidden classes. It is not
    adjusted for chance: ``k`` equally sized subclasses assigned at random to
    ``k`` equally sized hidden classes score slightly above ``1 / k``.

    References
    ----------
    .. [1] R. Müller, S. Kornblith and G. Hinton, "Subclass Distillation",
       arXiv:2002.03936, 2020.

    Examples
    --------
    Six samples from three hidden classes and the subclasses a teacher invented:

    >>> from sklearn_subdistill.metrics import subclass_recovery_score
    >>> y_hidden = ["cat", "cat", "dog", "dog", "fox", "fox"]
    >>> y_subclass = [2, 2, 0, 1, 1, 1]

    The contingency matrix (rows ``cat, dog, fox``, columns subclasses
    ``0, 1, 2``) is ``[[0, 0, 2], [1, 1, 0], [0, 2, 0]]``. The best matching is
    ``cat -> 2`` (2 samples), ``fox -> 1`` (2 samples) and ``dog -> 0``
    (1 sample): 5 of 6 samples agree. The dog in subclass 1 is an error because
    subclass 1 is already matched to fox.

    >>> round(subclass_recovery_score(y_hidden, y_subclass), 4)
    0.8333

    Renaming the subclasses does not change the score:

    >>> subclass_recovery_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0

    With more subclasses than hidden classes, the unmatched subclass is wrong:

    >>> subclass_recovery_score([0, 0, 1, 1], [0, 0, 1, 2])
    0.75

    unless each subclass may stand for any hidden class:

    >>> subclass_recovery_score([0, 0, 1, 1], [0, 0, 1, 2], matching="many-to-one")
    1.0
    """
    if matching not in ("one-to-one", "many-to-one"):
        raise ValueError(
            f"matching must be 'one-to-one' or 'many-to-one', got {matching!r}."
        )
    y_hidden = _check_labels(y_hidden, "y_hidden")
    y_subclass = _check_labels(y_subclass, "y_subclass")
    if y_hidden.shape[0] != y_subclass.shape[0]:
        raise ValueError(
            "y_hidden and y_subclass must have the same length, got "
            f"{y_hidden.shape[0]} and {y_subclass.shape[0]}."
        )
    counts = contingency_matrix(y_hidden, y_subclass)
    if matching == "many-to-one":
        # each subclass (column) counts the samples of its commonest hidden class
        return float(counts.max(axis=0).sum() / y_hidden.shape[0])
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / y_hidden.shape[0])
