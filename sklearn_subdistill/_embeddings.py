"""Embeddings of trained models: what ``EmbeddingSubclassTeacher`` projects.

The input of a torch network's last linear layer, the last hidden layer of an
``MLPClassifier``, a pipeline's last step's embedding, or a user's callable;
with the output layer's weights where they are known.
"""

import numpy as np
import scipy.sparse
import torch
from scipy.special import expit
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, gen_batches

from . import _training_data
from ._base import SubclassNetworkMixin
from ._net import uncompiled
from .modules import SubclassHeadNetwork

EMBEDDING_OPTIONS = (
    "embedding='auto' works for a SubclassTeacherClassifier or any fitted skorch "
    "net (the input of the network's last torch.nn.Linear), an MLPClassifier (its "
    "last hidden layer) and a Pipeline ending in one of these; for any other model "
    "pass a callable embedding(estimator, X) -> array of shape (n_samples, "
    "n_dims), e.g. the leaf values of a gradient boosting model."
)


def rows_for_model(X, checked):
    """What the model sees: a DataFrame as given (its column names kept), any
    other input as the validated array."""
    return X if hasattr(X, "iloc") else checked


def unwrap_frozen(model):
    return model.estimator if isinstance(model, FrozenEstimator) else model


def _torch_module(model):
    """The torch module of a SubclassTeacherClassifier or skorch net, or None."""
    net = getattr(model, "net_", model)
    return uncompiled(getattr(net, "module_", None))


def _is_torch_model(model):
    from skorch import NeuralNet

    return isinstance(model, (SubclassNetworkMixin, NeuralNet))


def auto_embedding_kind(model):
    """How ``embedding="auto"`` reads ``model``; TypeError where it cannot."""
    model = unwrap_frozen(model)
    if isinstance(model, Pipeline):
        return auto_embedding_kind(model.steps[-1][1])
    if _is_torch_model(model):
        return "torch"
    if isinstance(model, MLPClassifier):
        return "mlp"
    raise TypeError(
        f"Cannot find the embeddings of a {type(model).__name__}: {EMBEDDING_OPTIONS}"
    )


def embedding_function(model, embedding):
    """``(embed(X_batch) -> (n, d) array, output weights (n_out, d) or None)``."""
    if callable(embedding):
        return (lambda X: embedding(model, X)), None
    kind = auto_embedding_kind(model)
    if isinstance(model, Pipeline):
        body = model[:-1]
        embed, weights = embedding_function(
            unwrap_frozen(model.steps[-1][1]), embedding
        )
        return (lambda X: embed(body.transform(X))), weights
    if kind == "mlp":
        return _mlp_embedding(model)
    return _torch_embedding(model)


_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def _mlp_embedding(model):
    """Last hidden layer of an MLPClassifier, recomputed from its weights."""
    activation = _ACTIVATIONS[model.activation]
    hidden = list(zip(model.coefs_[:-1], model.intercepts_[:-1], strict=True))

    def embed(X):
        values = np.asarray(X, dtype=np.float64)
        for weights, bias in hidden:
            values = activation(values @ weights + bias)
        return values

    return embed, model.coefs_[-1].T  # (d, n_out) -> (n_out, d)


def _torch_embedding(model):
    """Input of the network's last ``torch.nn.Linear``, via a forward hook."""
    module = _torch_module(model)
    # A teacher with a separate subclass head: the class network's embedding.
    # (By type: a user's network may well have a part named "body".)
    body = module.body if isinstance(module, SubclassHeadNetwork) else module
    linears = [m for m in body.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise TypeError(
            f"The network of {type(model).__name__} ({type(module).__name__}) has "
            f"no torch.nn.Linear layer. {EMBEDDING_OPTIONS}"
        )
    last = linears[-1]
    # float64 for a network trained with precision="fp64"
    device, dtype = last.weight.device, last.weight.dtype

    def embed(X):
        captured = []
        hook = last.register_forward_hook(
            lambda _, inputs, __: captured.append(inputs[0].detach())
        )
        training = module.training
        try:
            module.eval()
            with torch.no_grad():
                rows = torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)
                module(rows.to(dtype))
        finally:
            hook.remove()
            module.train(training)
        # The last call is the one that fed the output (a layer run once).
        return captured[-1].double().cpu().numpy()

    weights = last.weight.detach().double().cpu().numpy()  # (n_out, d)
    return embed, weights


def as_dense(values):
    if scipy.sparse.issparse(values):
        values = values.toarray()
    return np.asarray(values, dtype=np.float64)


def class_moments(embed, X, y_index, n_classes):
    """Mean and (population) covariance of each class's embeddings.

    One pass in batches: sums are taken around a shift (the first batch's mean
    of the class) so that large means cost no precision.
    """
    counts = np.zeros(n_classes)
    shifts = sums = scatters = None
    for batch in gen_batches(X.shape[0], _training_data.INFERENCE_BATCH_SIZE):
        values = as_dense(embed(_safe_indexing(X, batch)))
        labels = y_index[batch]
        if values.ndim != 2 or len(values) != len(labels):
            raise ValueError(
                f"The embedding returned an array of shape {values.shape} for "
                f"{len(labels)} rows; expected (n_samples, n_dims)."
            )
        if not np.isfinite(values).all():
            raise ValueError("The embedding returned non-finite values.")
        if shifts is None:
            n_dims = values.shape[1]
            shifts = np.full((n_classes, n_dims), np.nan)
            sums = np.zeros((n_classes, n_dims))
            scatters = np.zeros((n_classes, n_dims, n_dims))
        for c in np.unique(labels):
            rows = values[labels == c]
            if np.isnan(shifts[c, 0]):
                shifts[c] = rows.mean(axis=0)
            centred = rows - shifts[c]
            counts[c] += len(rows)
            sums[c] += centred.sum(axis=0)
            scatters[c] += centred.T @ centred
    offsets = sums / counts[:, None]
    means = shifts + offsets
    covariances = scatters / counts[:, None, None] - np.einsum(
        "cd,ce->cde", offsets, offsets
    )
    return means, covariances


def class_index(classes, y):
    """Index of each label of ``y`` in ``classes``; every class needs a row."""
    y_index = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unknown = classes[y_index] != y
    if unknown.any():
        raise ValueError(
            f"y has labels the estimator does not know: "
            f"{np.unique(y[unknown]).tolist()[:5]!r}; its classes_ are "
            f"{classes.tolist()[:10]!r}."
        )
    missing = np.setdiff1d(np.arange(len(classes)), y_index)
    if len(missing):
        raise ValueError(
            f"y has no row of class {classes[missing[0]].tolist()!r}: every "
            "class needs training rows to find its directions."
        )
    return y_index
