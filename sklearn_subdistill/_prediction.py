"""Prediction shared by the subclass estimators: batched, bounded in memory.

Every prediction method maps the network's logits of one inference batch at a
time (``_training_data.INFERENCE_BATCH_SIZE`` rows, read at call time) to what it
returns, on the training device; only that (small) result moves to the host.
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from . import _training_data
from ._net import BatchIterator, uncompiled
from ._streaming import (
    Source,
    as_float32_tensor,
    check_float32_range,
    checked_batches,
    is_stream,
    passes_check_array,
)
from ._torch_datasets import ArrayDataset
from ._training import release_cached_memory
from .losses import class_logits
from .modules import SubclassHeadNetwork

#: Probabilities of models without subclass logits (a student's teacher, an
#: embedding teacher's model) are clipped here before the log.
PROBA_FLOOR = 1e-12


class SubclassOutputMixin(TransformerMixin):
    """What every subclass teacher and student derives from its subclass
    log-probabilities (``predict_subclass_log_proba``): ``transform``,
    ``predict_subclass``, the output names and the tags.

    A ``TransformerMixin`` itself, so that scikit-learn's ``set_output`` wraps
    the ``transform`` defined here.
    """

    def transform(self, X):
        """Probability of each subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            Subclass probabilities; column ``k`` belongs to class
            ``classes_[k // n_subclasses_]``. Each row sums to one. Summing
            each class's block gives :meth:`predict_proba`, except for a
            teacher whose ``class_mass="subclass_network"`` (the default of
            :class:`~sklearn_subdistill.SubclassTeacherClassifier`): its
            blocks sum to its subclass network's class probabilities.
            ``transform(X).argmax(axis=1)`` is :meth:`predict_subclass`.
        """
        proba = self.predict_subclass_log_proba(X)
        return np.exp(proba, out=proba)

    def predict_subclass(self, X):
        """The most probable subclass of each sample (a hard assignment).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        subclass : ndarray of shape (n_samples,) of int
            Index in ``[0, n_classes * n_subclasses)``, the same as
            ``transform(X).argmax(axis=1)``; subclass ``k`` belongs to class
            ``classes_[k // n_subclasses_]``.
        """
        return self.predict_subclass_log_proba(X).argmax(axis=1)

    def get_feature_names_out(self, input_features=None):
        """Names of the :meth:`transform` columns: ``subclass_<class>_<j>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per subclass, ``j`` counting within each class.
        """
        return subclass_feature_names(self, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class SubclassPredictionMixin(SubclassOutputMixin):
    """``predict``, ``predict_proba``, ... of a fitted ``net_``, in batches."""

    def _validate_X(self, X):
        check_is_fitted(self)
        # What validate_data would pass as is skips it (most of a one-row
        # prediction's time); feature names always take the full check.
        if hasattr(self, "feature_names_in_") or not passes_check_array(
            X, self.n_features_in_
        ):
            X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        check_float32_range(X)
        return X

    def _output_log_probas(self):
        """Functions from a batch's network output to its subclass and its
        class log-probabilities.

        A :class:`~sklearn_subdistill.modules.SubclassHeadNetwork` gives both
        (its class network's and the subclass distribution it exposes); any
        other network gives subclass logits, whose per-class log-sum-exps are
        the class log-probabilities.
        """
        module = uncompiled(self.net_.module_)
        if isinstance(module, SubclassHeadNetwork):
            return module.subclass_log_proba, module.class_log_proba
        n_classes = len(self.classes_)
        return _log_proba, lambda z: class_logits(_log_proba(z), n_classes).clamp(
            max=0.0
        )

    def _map_batches(self, X, fn, n_columns, dtype=np.float64):
        """Apply ``fn`` to the logits of each inference batch; collect in numpy.

        ``fn`` runs on the training device; only its (small) result moves to
        the host, into one preallocated array, so memory is bounded by the
        batch and the output, not by float64 copies of every logit. Batches
        hold ``INFERENCE_BATCH_SIZE`` rows, read when the method is called.
        """
        batch_size = _training_data.INFERENCE_BATCH_SIZE
        if is_stream(X):
            check_is_fitted(self)
            batches = self._stream_batches(X, batch_size)
            out = []  # the number of rows is unknown until the end
        else:
            X = self._validate_X(X)
            batches = BatchIterator(ArrayDataset(X), batch_size=batch_size)
            if len(X) <= batch_size:  # one batch: skip the iterator's machinery
                batches = [ArrayDataset(X).take(slice(None))]
            shape = (len(X),) if n_columns is None else (len(X), n_columns)
            out = np.empty(shape, dtype=dtype)
        out_of_memory = None
        try:
            start = 0
            for batch in batches:
                values = fn(self.net_.evaluation_step(batch)).cpu().numpy()
                if isinstance(out, list):
                    out.append(np.array(values, dtype=dtype))
                else:
                    out[start : start + len(values)] = values
                start += len(values)
        except torch.cuda.OutOfMemoryError as exc:
            out_of_memory = str(exc).split("\n")[0]
        if out_of_memory is not None:
            device = str(self.net_.device)
            release_cached_memory(device)
            raise torch.cuda.OutOfMemoryError(
                f"{type(self).__name__} ran out of memory on {device} while "
                f"predicting in batches of {batch_size} rows. Free the memory other "
                "tensors or models hold, or predict on the CPU: save the model with "
                "sklearn_subdistill.save and load it with device='cpu'. "
                f"(torch: {out_of_memory})"
            )
        if isinstance(out, list):
            if not out:
                raise ValueError(f"X ({type(X).__name__}) yielded no rows.")
            return np.concatenate(out)
        return out

    def _stream_batches(self, X, batch_size):
        """``(X_batch, None)`` float32 tensors of a streamed ``X``, each checked."""
        batches = checked_batches(
            Source(X, "predict"),
            batch_size,
            self.n_features_in_,
            fitted_by=type(self).__name__,
        )
        for features, _, _ in batches:
            yield as_float32_tensor(features), None

    def predict_subclass_log_proba(self, X):
        """Log-probability of each subclass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes * n_subclasses)
            ``log(transform(X))``, computed without underflow.
        """
        check_is_fitted(self)
        subclass_log_proba, _ = self._output_log_probas()
        return self._map_batches(
            X, subclass_log_proba, len(self.classes_) * self.n_subclasses_
        )

    def predict_log_proba(self, X):
        """Log-probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Class log-probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        _, class_log_proba = self._output_log_probas()
        return self._map_batches(X, class_log_proba, len(self.classes_))

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        proba = self.predict_log_proba(X)
        return np.exp(proba, out=proba)

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The most probable class, as one of the labels seen in ``fit``.
        """
        index = self.predict_log_proba(X).argmax(axis=1)
        return self.classes_[index]

    def predict_subclass(self, X):
        """The most probable subclass of each sample (a hard assignment).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), torch Dataset or \
                iterable of batches
            Input samples; for data larger than memory, a torch ``Dataset``
            or an iterable of batches (labels in it are ignored), see
            :ref:`scaling`.

        Returns
        -------
        subclass : ndarray of shape (n_samples,) of int
            Index in ``[0, n_classes * n_subclasses)``, the same as
            ``transform(X).argmax(axis=1)``; subclass ``k`` belongs to class
            ``classes_[k // n_subclasses_]``.
        """
        check_is_fitted(self)
        subclass_log_proba, _ = self._output_log_probas()
        return self._map_batches(
            X, lambda z: subclass_log_proba(z).argmax(dim=1), None, dtype=np.int64
        )

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy of ``self.predict(X)``.
        """
        # Before predicting, so that a length mismatch costs no forward pass.
        check_consistent_length(X, y, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")


def subclass_feature_names(estimator, input_features=None):
    """``subclass_<class>_<j>`` for every subclass of a fitted ``estimator``."""
    check_is_fitted(estimator)
    _check_feature_names_in(estimator, input_features, generate_names=False)
    return np.asarray(
        [
            f"subclass_{label}_{j}"
            for label in estimator.classes_
            for j in range(estimator.n_subclasses_)
        ],
        dtype=object,
    )


def _log_proba(logits):
    """Float64 log-softmax, never above 0.

    Rounding can leave a log-probability a few ulps above 0, and its exp just
    above 1; the clamp keeps every probability in [0, 1].
    """
    return F.log_softmax(logits.double(), dim=1).clamp(max=0.0)
