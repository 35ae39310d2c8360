"""EmbeddingSubclassTeacher: pseudo-subclasses from any trained model's embeddings."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import _safe_indexing, check_random_state, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from . import _training_data
from ._embeddings import (
    as_dense,
    auto_embedding_kind,
    class_index,
    class_moments,
    embedding_function,
    rows_for_model,
    unwrap_frozen,
)
from ._prediction import PROBA_FLOOR, SubclassOutputMixin
from .projections import (
    class_directions,
    output_null_space,
    projection_logits,
    random_rotation,
    subclass_log_proba,
)

__all__ = ["EmbeddingSubclassTeacher"]

#: Every attribute a fit sets: cleared when a fit starts, written and read by
#: save and load.
FITTED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "classes_",
    "n_subclasses_",
    "estimator_",
    "means_",
    "directions_",
    "scales_",
)


class EmbeddingSubclassTeacher(
    ClassifierMixin, SubclassOutputMixin, MetaEstimatorMixin, BaseEstimator
):
    """Pseudo-subclasses from linear projections of a trained model's embeddings.

    Wraps a classifier trained without subclasses (a network, an
    :class:`~sklearn.neural_network.MLPClassifier`, a pipeline, a gradient
    boosting model through a callable) and splits each of its class
    probabilities among ``n_subclasses`` pseudo-subclasses, read from the
    model's embeddings (LELP, Loo et al. 2024). No retraining: it is a
    subclass teacher for :class:`SubclassDistilledStudent` built from a model
    you already have.

    For every class ``c``, ``fit`` takes the embeddings of the training rows
    of that class, removes the directions the model's output layer reads
    (where that layer is known), and keeps the ``n_subclasses`` directions in
    which the rest varies most, mixed by a random rotation. A row's
    pseudo-subclass log-probabilities are its class log-probability plus a
    log-softmax of its projections on those directions.

    Read more in the :ref:`User Guide <method-embedding>`.

    Parameters
    ----------
    estimator : classifier
        A classifier with ``fit`` and ``predict_proba``: cloned and fitted in
        ``fit``, or used as it is when wrapped in
        :class:`~sklearn.frozen.FrozenEstimator` (already fitted).
    n_subclasses : int, default=5
        Pseudo-subclasses (directions) per class.
    embedding : "auto" or callable, default="auto"
        Where the embeddings come from:

        - ``"auto"``: for a :class:`SubclassTeacherClassifier` or any skorch
          net, the input of the network's last ``torch.nn.Linear`` (the last
          one registered in the module), whose weights are the output layer;
          for an :class:`~sklearn.neural_network.MLPClassifier`, the
          activations of its last hidden layer, ``coefs_[-1]`` being the output
          layer; for a :class:`~sklearn.pipeline.Pipeline`, the output of all
          steps but the last, embedded by the last step as above;
        - a callable ``embedding(estimator, X)`` returning an array (dense or
          sparse) of shape ``(n_samples, n_dims)``, called with the fitted
          model (unwrapped from ``FrozenEstimator``) on batches of rows. Its
          output layer is unknown, so no direction is removed.
    temperature : float, default=1.0
        Divides the standardised projections before the softmax within each
        class; higher values split each class more evenly.
    random_state : int, RandomState instance or None, default=None
        Seeds the random rotations (and nothing else: the inner estimator
        keeps its own ``random_state``).

    Attributes
    ----------
    estimator_ : classifier
        The fitted model: a fitted clone of ``estimator``, or ``estimator``
        itself when it is a ``FrozenEstimator``.
    classes_ : ndarray of shape (n_classes,)
        The class labels (the model's).
    n_subclasses_ : int
        Pseudo-subclasses per class.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.
    means_ : ndarray of shape (n_classes, n_dims)
        Mean embedding of each class's training rows.
    directions_ : ndarray of shape (n_classes, n_subclasses, n_dims)
        Each class's directions: orthonormal rows, orthogonal to the output
        layer's weights.
    scales_ : ndarray of shape (n_classes,)
        Root mean variance of each class's embeddings along its directions.

    See Also
    --------
    SubclassTeacherClassifier : A network trained to invent subclasses.
    SubclassDistilledStudent : Learns from this teacher's pseudo-subclasses.

    Notes
    -----
    With ``e(x)`` the embedding, ``W`` the output layer's weights, ``P`` an
    orthonormal basis of the complement of ``W``'s row space, and for class
    ``c`` the mean ``mu_c`` and covariance ``S_c`` of its training rows'
    embeddings (rows labelled ``c`` in ``y``):

    - ``v_c1..v_ck`` are the top ``k`` eigenvectors of ``P^T S_c P`` (the
      principal directions of the class's embeddings projected onto the
      complement), mapped back by ``P`` and mixed by a random orthogonal
      ``k x k`` matrix ``R_c``;
    - ``sigma_c`` is the root mean of their ``k`` variances;
    - ``log q(c, j | x) = log p(c | x) + log_softmax_j(<e(x) - mu_c, v_cj> /
      (sigma_c * temperature))``, ``p`` the model's ``predict_proba``
      (clipped at 1e-12).

    So each class's pseudo-subclass probabilities sum to the model's class
    probability, and the student distils both.

    What follows the paper and what is ours: per-class PCA of the embeddings
    after projection onto the null space of the final layer's weights, and a
    random rotation of the principal directions, are LELP's steps as its
    abstract and a published review (themoonlight.io) describe them; we could
    not read the paper's exact formula for the pseudo-subclass logits. Ours
    are centred projections divided by ``sigma_c`` (so that ``temperature``
    does not depend on the embedding's units), split within each class by a
    softmax and added to the model's own class log-probability (so the
    classes the student learns are exactly the model's). Class statistics use
    the labels ``y``, not the model's predictions, and the population
    covariance.

    Embedding statistics are accumulated batch by batch
    (``sklearn_subdistill._training_data.INFERENCE_BATCH_SIZE`` rows), so memory grows
    with ``n_classes * n_dims**2``, not with the number of rows. ``X`` must be
    a numeric array; a student can still distil this teacher on a stream when
    it is fitted and frozen, since the student passes it arrays.

    References
    ----------
    .. [1] N. Loo, F. Iliopoulos, W. Hu and E. Vee, "Linear Projections of
       Teacher Embeddings for Few-Class Distillation", arXiv:2409.20449, 2024.
    .. [2] R. Müller, S. Kornblith and G. Hinton, "Subclass Distillation",
       arXiv:2002.03936, 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_subdistill import EmbeddingSubclassTeacher
    >>> X, digit = load_digits(return_X_y=True)
    >>> X, y = X / 16, (digit >= 5).astype(int)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    >>> teacher = EmbeddingSubclassTeacher(mlp, n_subclasses=3,
    ...                                    random_state=0).fit(X, y)
    >>> teacher.transform(X[:2]).shape
    (2, 6)
    >>> teacher.get_feature_names_out()[:2]
    array(['subclass_0_0', 'subclass_0_1'], dtype=object)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_subclasses": [Interval(Integral, 1, None, closed="left")],
        "embedding": [StrOptions({"auto"}), callable],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        n_subclasses=5,
        embedding="auto",
        temperature=1.0,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_subclasses = n_subclasses
        self.embedding = embedding
        self.temperature = temperature
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the model (unless frozen) and find each class's directions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples (numeric, finite).
        y : array-like of shape (n_samples,)
            Class labels. With a frozen model, every label must be one of its
            classes and every class needs at least one row.

        Returns
        -------
        self : EmbeddingSubclassTeacher
            The fitted teacher.
        """
        # (validate_data manages the attributes that describe X's columns.)
        for name in FITTED_ATTRIBUTES[2:]:
            self.__dict__.pop(name, None)
        X_in = X
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        X_in = rows_for_model(X_in, X)
        check_classification_targets(y)
        model = self._fitted_model(X_in, y)
        inner = unwrap_frozen(model)
        if self.embedding == "auto":
            auto_embedding_kind(inner)
        classes = np.asarray(model.classes_)
        n_features = getattr(model, "n_features_in_", self.n_features_in_)
        if n_features != self.n_features_in_:
            raise ValueError(
                f"The estimator was fitted on {n_features} features but X has "
                f"{self.n_features_in_}."
            )
        y_index = class_index(classes, y)
        embed, output_weights = embedding_function(inner, self.embedding)
        means, covariances = class_moments(embed, X_in, y_index, len(classes))
        basis = output_null_space(output_weights, means.shape[1])
        rng = check_random_state(self.random_state)
        directions, scales = [], []
        for covariance in covariances:
            rotation = random_rotation(self.n_subclasses, rng)
            found, scale = class_directions(
                covariance, self.n_subclasses, basis=basis, rotation=rotation
            )
            directions.append(found)
            scales.append(scale)
        self.estimator_ = model
        self.classes_ = classes
        self.n_subclasses_ = self.n_subclasses
        self.means_ = means
        self.directions_ = np.stack(directions)
        self.scales_ = np.asarray(scales)
        return self

    def _fitted_model(self, X, y):
        """The frozen model, checked, or a clone of the model fitted on X, y."""
        if isinstance(self.estimator, FrozenEstimator):
            try:
                check_is_fitted(self.estimator)
            except NotFittedError as exc:
                raise NotFittedError(
                    f"The estimator is a FrozenEstimator around an unfitted "
                    f"{type(self.estimator.estimator).__name__}: fit it before "
                    "freezing it, or pass it unfrozen to have it fitted here."
                ) from exc
            return self.estimator
        if self.embedding == "auto":
            auto_embedding_kind(self.estimator)  # fail before fitting
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"got 1 class ({y[0].tolist()!r})."
            )
        return clone(self.estimator).fit(X, y)

    def _batches(self, X):
        """Validated ``X`` sliced into inference batches."""
        check_is_fitted(self)
        checked = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        X = rows_for_model(X, checked)
        for batch in gen_batches(len(checked), _training_data.INFERENCE_BATCH_SIZE):
            yield _safe_indexing(X, batch)

    def predict_log_proba(self, X):
        """Log-probability of each class: the model's, clipped at 1e-12.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Class log-probabilities, columns in the order of ``classes_``.
        """
        return np.log(self.predict_proba(X))

    def predict_proba(self, X):
        """Probability of each class: the model's ``predict_proba``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities (clipped at 1e-12), columns in the order of
            ``classes_``; each class's pseudo-subclasses sum to it.
        """
        parts = [self._class_proba(rows) for rows in self._batches(X)]
        return np.concatenate(parts)

    def _class_proba(self, rows):
        proba = np.asarray(self.estimator_.predict_proba(rows), dtype=np.float64)
        return np.clip(proba, PROBA_FLOOR, 1.0)

    def predict(self, X):
        """Predict class labels: the most probable class of the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        index = self.predict_proba(X).argmax(axis=1)
        return self.classes_[index]

    def predict_subclass_log_proba(self, X):
        """Log-probability of each pseudo-subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            Column ``c * n_subclasses_ + j`` is
            ``log p(c | x) + log_softmax_j(projection_cj(x) / temperature)``;
            the log-sum-exp of each class's block is :meth:`predict_log_proba`.
        """
        check_is_fitted(self)
        embed, _ = embedding_function(unwrap_frozen(self.estimator_), self.embedding)
        parts = []
        for rows in self._batches(X):
            class_log_proba = np.log(self._class_proba(rows))
            projections = projection_logits(
                as_dense(embed(rows)), self.means_, self.directions_, self.scales_
            )
            parts.append(
                subclass_log_proba(class_log_proba, projections, self.temperature)
            )
        return np.concatenate(parts)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "directions_")
