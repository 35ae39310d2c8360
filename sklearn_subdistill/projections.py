"""Pseudo-subclasses from linear projections of embeddings: plain numpy functions.

The linear algebra of :class:`~sklearn_subdistill.EmbeddingSubclassTeacher`
(after Loo et al., 2024, "LELP"), kept apart from the estimator so that each
step can be checked against numbers computed by hand. Arrays in, arrays out,
float64 throughout. Notation: ``C`` classes, ``k`` pseudo-subclasses per class,
embeddings of dimension ``d``; pseudo-subclass ``c * k + j`` is direction
``j`` of class ``c``.
"""

import numpy as np
import scipy.linalg
import scipy.stats
from scipy.special import log_softmax
from sklearn.utils import check_random_state

__all__ = [
    "class_directions",
    "output_null_space",
    "projection_logits",
    "random_rotation",
    "subclass_log_proba",
]


def output_null_space(output_weights, n_dims):
    """Orthonormal basis of the embedding directions the output layer ignores.

    Parameters
    ----------
    output_weights : array-like of shape (n_outputs, n_dims) or None
        Weights of the teacher's last linear layer (one row per output). None
        when they are unknown: then no direction is removed.
    n_dims : int
        Dimension ``d`` of the embeddings.

    Returns
    -------
    basis : ndarray of shape (n_dims, m)
        Orthonormal columns spanning the orthogonal complement of the row
        space of ``output_weights`` (``m = d - rank``); the identity when
        ``output_weights`` is None.
    """
    if output_weights is None:
        return np.eye(n_dims)
    weights = np.asarray(output_weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != n_dims:
        raise ValueError(
            f"The output weights have shape {weights.shape}; expected "
            f"(n_outputs, {n_dims}), one column per embedding dimension."
        )
    return scipy.linalg.null_space(weights)


def random_rotation(n_dims, random_state=None):
    """A random orthogonal matrix, drawn from the Haar distribution.

    Parameters
    ----------
    n_dims : int
        Its size.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    rotation : ndarray of shape (n_dims, n_dims)
        An orthogonal matrix (``rotation @ rotation.T`` is the identity);
        ``[[1.0]]`` when ``n_dims`` is 1.
    """
    if n_dims == 1:
        return np.ones((1, 1))
    rng = check_random_state(random_state)
    return scipy.stats.ortho_group.rvs(n_dims, random_state=rng)


def class_directions(covariance, n_directions, *, basis, rotation=None):
    """A class's top principal directions outside the output layer, rotated.

    Parameters
    ----------
    covariance : array-like of shape (d, d)
        Covariance of the class's embeddings.
    n_directions : int
        Number ``k`` of directions.
    basis : array-like of shape (d, m)
        Orthonormal basis of the allowed subspace (see
        :func:`output_null_space`); the principal directions are those of the
        embeddings projected onto it.
    rotation : array-like of shape (k, k) or None, default=None
        Orthogonal matrix mixing the ``k`` directions (see
        :func:`random_rotation`); None keeps them in order of decreasing
        variance.

    Returns
    -------
    directions : ndarray of shape (k, d)
        Orthonormal rows, orthogonal to the output weights: ``rotation`` times
        the top ``k`` eigenvectors of ``basis.T @ covariance @ basis`` mapped
        back to the embedding space.
    scale : float
        Root mean variance of the embeddings along the ``k`` directions (which
        the rotation does not change); 1 where that variance is zero.
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    basis = np.asarray(basis, dtype=np.float64)
    n_allowed = basis.shape[1]
    if n_directions > n_allowed:
        raise ValueError(
            f"n_subclasses={n_directions} directions are asked for, but only "
            f"{n_allowed} embedding dimensions are left once those the output layer "
            "reads are removed. Lower n_subclasses, or use a wider embedding."
        )
    reduced = basis.T @ covariance @ basis  # (d, d) -> (m, m)
    # eigh sorts eigenvalues in increasing order; take the k largest.
    values, vectors = scipy.linalg.eigh(
        reduced, subset_by_index=[n_allowed - n_directions, n_allowed - 1]
    )
    values, vectors = values[::-1], vectors[:, ::-1]
    directions = (basis @ vectors).T  # (m, k) -> (d, k) -> (k, d)
    # Eigenvectors are defined up to sign: make each one's largest entry positive.
    largest = directions[range(n_directions), np.abs(directions).argmax(axis=1)]
    directions = directions * np.where(largest < 0, -1.0, 1.0)[:, None]
    if rotation is not None:
        directions = np.asarray(rotation, dtype=np.float64) @ directions
    variance = float(np.clip(values, 0.0, None).mean())
    scale = np.sqrt(variance) if variance > 1e-12 else 1.0
    return directions, scale


def projection_logits(embeddings, means, directions, scales):
    """Projections of embeddings on every class's directions, standardised.

    Parameters
    ----------
    embeddings : array-like of shape (n_samples, d)
        Embeddings ``e(x)``.
    means : array-like of shape (C, d)
        Each class's mean embedding ``mu_c``.
    directions : array-like of shape (C, k, d)
        Each class's directions ``v_cj`` (see :func:`class_directions`).
    scales : array-like of shape (C,)
        Each class's scale ``sigma_c``.

    Returns
    -------
    projections : ndarray of shape (n_samples, C * k)
        ``<e(x) - mu_c, v_cj> / sigma_c`` in column ``c * k + j``.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    scaled = np.asarray(directions, np.float64) / np.asarray(scales)[:, None, None]
    offsets = np.einsum("ckd,cd->ck", scaled, np.asarray(means, np.float64))
    flat = scaled.reshape(-1, scaled.shape[2])  # (C, k, d) -> (C*k, d)
    return embeddings @ flat.T - offsets.reshape(-1)


def subclass_log_proba(class_log_proba, projections, temperature=1.0):
    """Pseudo-subclass log-probabilities: class log-probability split by softmax.

    Parameters
    ----------
    class_log_proba : array-like of shape (n_samples, C)
        The teacher's class log-probabilities ``log p(c | x)``.
    projections : array-like of shape (n_samples, C * k)
        Projections from :func:`projection_logits`.
    temperature : float, default=1.0
        Divides the projections before the softmax; higher values split each
        class more evenly.

    Returns
    -------
    log_proba : ndarray of shape (n_samples, C * k)
        ``log p(c | x) + log_softmax_j(projections[:, c*k + j] / temperature)``;
        the log-sum-exp over each class's block is ``log p(c | x)``.
    """
    class_log_proba = np.asarray(class_log_proba, dtype=np.float64)
    n_samples, n_classes = class_log_proba.shape
    blocks = np.asarray(projections, dtype=np.float64).reshape(n_samples, n_classes, -1)
    split = log_softmax(blocks / temperature, axis=2)  # within each class
    return (class_log_proba[:, :, None] + split).reshape(n_samples, -1)
