"""What a student reads of its teacher: classes, columns and log-probabilities."""

import numpy as np
from scipy.special import logsumexp
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted

from ._prediction import PROBA_FLOOR
from ._training_data import INFERENCE_BATCH_SIZE
from .teacher import SubclassTeacherClassifier


def teacher_to_fit(student):
    """The unfitted teacher a student's ``fit`` fits a clone of: its
    ``teacher``, or the default one (with the student's seed and device);
    ``None`` for a frozen teacher."""
    if student.teacher is None:
        return SubclassTeacherClassifier(
            random_state=student.random_state, device=student.device
        )
    return None if isinstance(student.teacher, FrozenEstimator) else student.teacher


def check_frozen_teacher(teacher):
    """``teacher``, a FrozenEstimator, if what it wraps is fitted."""
    try:
        check_is_fitted(teacher)
    except NotFittedError as exc:
        raise NotFittedError(
            f"The teacher is a FrozenEstimator around an unfitted "
            f"{type(teacher.estimator).__name__}: fit it before freezing it, "
            "or pass it unfrozen to have the student fit it."
        ) from exc
    return teacher


def check_teacher(teacher, n_features_in, feature_names_in):
    """The teacher's classes and subclasses per class, after checking that it
    was fitted on the student's columns."""
    if not hasattr(teacher, "classes_"):
        raise ValueError(
            f"The teacher {type(teacher).__name__} has no classes_ after fitting; "
            "the student needs a classifier."
        )
    n_features = getattr(teacher, "n_features_in_", n_features_in)
    if n_features != n_features_in:
        raise ValueError(
            f"The teacher was fitted on {n_features} features but X has "
            f"{n_features_in}; teacher and student need the same features."
        )
    names = getattr(teacher, "feature_names_in_", None)
    own = feature_names_in
    if names is not None and own is not None and list(names) != list(own):
        # Same length: the number of features was checked above.
        i = next(i for i, (a, b) in enumerate(zip(names, own, strict=True)) if a != b)
        raise ValueError(
            f"The teacher's columns differ from X's: column {i} is {names[i]!r} "
            f"for the teacher and {own[i]!r} in X. Teacher and student need the "
            "same columns in the same order."
        )
    return np.asarray(teacher.classes_), getattr(teacher, "n_subclasses_", 1)


def teacher_logits(teacher, X, dtype, classes_only=False):
    """The teacher's (subclass) log-probabilities as ``dtype``, computed in
    batches and checked: finite, one per (sub)class.

    float32 for a student trained in float32 (half the memory); float64 for
    one trained in float64 (``precision="fp64"``). ``classes_only``: the
    class log-probabilities that the teacher predicts (its
    ``predict_log_proba``, else the log of its ``predict_proba``), one per
    class; a teacher's subclass distribution need not sum to them (see
    ``class_mass`` of :class:`~sklearn_subdistill.SubclassTeacherClassifier`).
    """
    n_subclasses = 1 if classes_only else getattr(teacher, "n_subclasses_", 1)
    if not classes_only and hasattr(teacher, "predict_subclass_log_proba"):
        logits = teacher.predict_subclass_log_proba(X).astype(dtype)
    elif hasattr(teacher, "predict_subclass_log_proba"):
        # one of ours: its log-probabilities, without the floor's clipping
        logits = teacher.predict_log_proba(X).astype(dtype)
    else:
        parts = [
            np.log(np.clip(teacher.predict_proba(X[batch]), PROBA_FLOOR, None))
            for batch in gen_batches(len(X), INFERENCE_BATCH_SIZE)
        ]
        logits = np.concatenate(parts).astype(dtype)
    name = type(getattr(teacher, "estimator", teacher)).__name__
    n_outputs = len(teacher.classes_) * n_subclasses
    if logits.ndim != 2 or logits.shape[1] != n_outputs:
        raise ValueError(
            f"The teacher {name} returned probabilities of shape {logits.shape}; "
            f"expected {n_outputs} columns, one per (sub)class in its classes_."
        )
    if not np.isfinite(logits).all():
        raise ValueError(
            f"The teacher {name} returned non-finite (NaN or infinite) "
            "probabilities; the student cannot learn from them."
        )
    return logits


def split_class_log_proba(class_log_proba, subclass_log_proba):
    """Class log-probabilities ``(N, C)`` split as ``subclass_log_proba``
    ``(N, C * s)`` splits each class: ``log P(c) + log q(j | c)`` for subclass
    ``j`` of class ``c``, computed in float64."""
    n_rows, n_classes = class_log_proba.shape
    # (N, K) -> (N, C, s): each class's block, normalised within the class
    blocks = subclass_log_proba.astype(np.float64).reshape(n_rows, n_classes, -1)
    within = blocks - logsumexp(blocks, axis=2, keepdims=True)
    split = class_log_proba.astype(np.float64)[:, :, np.newaxis] + within
    return split.reshape(n_rows, -1)


def distillation_targets(teacher, X, dtype, subclass_weight, class_mass):
    """What a student distils of its teacher on ``X``, as ``dtype``
    log-probabilities: the class log-probabilities the teacher predicts where
    ``subclass_weight`` is 0 (no split), else its subclass distribution, as
    it is (``class_mass="subclasses"``) or with its class probabilities
    replaced by ``predict_proba``'s (``"predict_proba"``)."""
    if not subclass_weight:
        return teacher_logits(teacher, X, dtype, classes_only=True)
    logits = teacher_logits(teacher, X, dtype)
    if class_mass == "predict_proba":
        class_log_proba = teacher_logits(teacher, X, dtype, classes_only=True)
        logits = split_class_log_proba(class_log_proba, logits).astype(dtype)
    return logits
