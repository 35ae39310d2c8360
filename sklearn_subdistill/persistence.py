"""Save and load fitted estimators in a format that runs no code when read.

A pickle (``pickle``, ``joblib``) can run arbitrary code while it loads, so it
must only be loaded from a trusted source. :func:`save` writes the network's
weights and the estimator's parameters and fitted attributes as plain data
(numbers, strings, lists, dicts and tensors) in one file, which :func:`load`
reads back with ``torch.load(weights_only=True)``: torch's restricted
unpickler, which builds no object other than those.

What a file cannot hold as data -- a custom network class, an optimizer class,
callbacks, a teacher that is not a :class:`SubclassTeacherClassifier` -- is
recorded by name only, and the caller passes it back to :func:`load`; code
never comes from the file.
"""

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from ._base import FITTED_ATTRIBUTES, SubclassNetworkMixin
from ._loading import LABEL_KINDS, SCALARS, Loader, expect
from ._net import uncompiled
from .embedding import FITTED_ATTRIBUTES as EMBEDDING_FITTED_ATTRIBUTES
from .embedding import EmbeddingSubclassTeacher

__all__ = ["load", "save"]

#: Tag and version of the file format; :func:`load` refuses newer versions.
FORMAT = "sklearn_subdistill.model"
FORMAT_VERSION = 1


def save(estimator, path):
    """Save an estimator as plain data and weights, loadable without pickle.

    Parameters
    ----------
    estimator : SubclassTeacherClassifier, SubclassDistilledStudent or \
            EmbeddingSubclassTeacher
        The estimator, fitted or not. A student's fitted teacher is saved with
        it when it is a :class:`SubclassTeacherClassifier` or an
        :class:`EmbeddingSubclassTeacher` around one (possibly wrapped in
        :class:`~sklearn.frozen.FrozenEstimator`). An
        :class:`EmbeddingSubclassTeacher` is saved only around a
        :class:`SubclassTeacherClassifier`: its directions as tensors, a
        callable ``embedding`` by name (pass it back to :func:`load`).
    path : str, os.PathLike or binary file object
        Where to write. The file is a ``torch.save`` archive that holds only
        tensors and plain Python data.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    Parameters whose values are not plain data (a custom ``module`` or
    ``optimizer`` class, ``callbacks``, a ``RandomState``, a teacher of
    another kind) are recorded by type name only and must be passed to
    :func:`load`. The optimizer's state is not saved: a loaded model predicts,
    and ``fit`` trains it again from scratch, as it always does. The weights
    are stored on the CPU, so the file loads on any machine.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_subdistill import SubclassTeacherClassifier, load, save
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SubclassTeacherClassifier(n_subclasses=2, hidden_layer_sizes=(8,),
    ...                                   max_epochs=3, device="cpu",
    ...                                   random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "teacher.pt")
    >>> save(model, path)
    >>> restored = load(path)
    >>> bool((restored.predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    if isinstance(estimator, EmbeddingSubclassTeacher) and not _saveable(estimator):
        raise TypeError(
            "save stores an EmbeddingSubclassTeacher only around a "
            "SubclassTeacherClassifier (possibly in a FrozenEstimator); this one "
            f"wraps {_describe(_unwrap(estimator.estimator))}, which the file "
            "cannot hold as data. Use joblib or skops for it."
        )
    if not _saveable(estimator):
        raise TypeError(
            "save stores SubclassTeacherClassifier, SubclassDistilledStudent and "
            "EmbeddingSubclassTeacher estimators, got "
            f"{type(estimator).__name__}; use joblib or skops for other objects."
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": _encode_estimator(estimator),
    }
    torch.save(payload, path)


def load(path, *, device=None, params=None):
    """Load an estimator written by :func:`save`, running no code from the file.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The file.
    device : str, torch.device or None, default=None
        Where to put the network: ``None`` means the device it was trained on
        if this machine has it and the CPU otherwise (with a warning);
        ``"auto"``, ``"cpu"``, ``"cuda"``... as for the estimators. The
        estimator's ``device`` parameter keeps its saved value, unless this
        machine lacks that device: it then becomes ``"cpu"`` (with a warning),
        so that the loaded model also trains here.
    params : dict or None, default=None
        Values of the parameters the file could not store as data, by name:
        ``{"module": MyNet}``, ``{"callbacks": None}``; a student's teacher's
        are prefixed ``teacher__``. :func:`load` lists the missing ones.

    Returns
    -------
    estimator : SubclassTeacherClassifier, SubclassDistilledStudent or \
            EmbeddingSubclassTeacher
        The estimator, fitted if it was fitted when saved.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_subdistill import SubclassTeacherClassifier, load, save
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SubclassTeacherClassifier(hidden_layer_sizes=(8,), max_epochs=2,
    ...                                   device="cpu", random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "teacher.pt")
    >>> save(model, path)
    >>> load(path, device="cpu").transform(X[:2]).shape
    (2, 30)
    """
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before refusing a pickle.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # a missing or unreadable file says so itself
    except Exception as exc:
        # A file that is not a torch archive fails inside the unpickler in
        # many ways (UnpicklingError, EOFError, KeyError on a text file, ...).
        raise ValueError(
            f"{_name(path)} is not a file written by sklearn_subdistill.save, or it "
            "holds more than tensors and plain data; load never runs code from a "
            "file (load a pickle you trust with joblib.load). torch.load with "
            f"weights_only=True said: {_reason(exc)}"
        ) from exc
    expect(isinstance(payload, dict) and payload.get("format") == FORMAT, "format tag")
    version = payload.get("format_version")
    expect(isinstance(version, int), "format version")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{_name(path)} was written in format version {version}; this version of "
            f"sklearn_subdistill reads versions up to {FORMAT_VERSION}. Upgrade it."
        )
    supplied = dict(params or {})
    loader = Loader(supplied, device)
    estimator = loader.estimator(payload.get("estimator"), prefix="")
    if loader.missing:
        listed = ", ".join(f"{key} ({kind})" for key, kind in loader.missing)
        raise ValueError(
            f"The file could not store these parameters as data: {listed}. Pass "
            "their values: load(path, params={...}); callbacks that are only needed "
            "to train again may be given as None."
        )
    unused = sorted(set(supplied) - loader.used)
    if unused:
        raise ValueError(
            f"params has {unused}, which the file stores itself or does not have; "
            f"only parameters saved by name can be passed "
            f"({sorted(loader.used) or 'none in this file'})."
        )
    return estimator


def _name(path):
    """How messages refer to ``path``, a path or a file object."""
    return repr(str(path)) if isinstance(path, (str, os.PathLike)) else "The file"


def _reason(exc):
    """The informative line of a ``torch.load`` error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Unsupported"):
            return line.split(" was not an allowed global")[0]
    return lines[0] if lines else type(exc).__name__


# -- writing ------------------------------------------------------------------


def _encode_estimator(estimator):
    params = {
        key: _encode_param(value)
        for key, value in estimator.get_params(deep=False).items()
    }
    if isinstance(estimator, EmbeddingSubclassTeacher):
        fitted, encoders = hasattr(estimator, "directions_"), _EMBEDDING_ENCODERS
    else:
        fitted, encoders = hasattr(estimator, "net_"), _ENCODERS
    return {
        "class": type(estimator).__name__,
        "params": params,
        "fitted": _encode_fitted(estimator, encoders) if fitted else None,
    }


def _unwrap(value):
    return value.estimator if isinstance(value, FrozenEstimator) else value


def _saveable(value):
    """Whether the file can hold ``value`` (an estimator) as data."""
    if isinstance(value, EmbeddingSubclassTeacher):
        return isinstance(_unwrap(value.estimator), SubclassNetworkMixin)
    return isinstance(value, SubclassNetworkMixin)


def _encode_param(value):
    """A parameter value as tagged plain data; an unsaved marker if impossible."""
    plain = _plain(value)
    if plain is not _NOT_PLAIN:
        return plain
    if _saveable(value):
        return {"__estimator__": _encode_estimator(value)}
    if isinstance(value, FrozenEstimator) and _saveable(value.estimator):
        return {"__frozen__": _encode_estimator(value.estimator)}
    return {"__unsaved__": _describe(value)}


_NOT_PLAIN = object()


def _plain(value, tag_dicts=True):
    """``value`` as plain data of built-in types, or ``_NOT_PLAIN``.

    Numpy scalars become Python numbers; with ``tag_dicts``, dicts and devices
    are wrapped in one-key tags so that :class:`_Loader` can tell them from
    its own markers.
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, torch.device) and tag_dicts:
        return {"__device__": str(value)}
    if isinstance(value, (list, tuple)):
        items = [_plain(item, tag_dicts) for item in value]
        if any(item is _NOT_PLAIN for item in items):
            return _NOT_PLAIN
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        items = {str(key): _plain(item, tag_dicts) for key, item in value.items()}
        if any(item is _NOT_PLAIN for item in items.values()):
            return _NOT_PLAIN
        return {"__dict__": items} if tag_dicts else items
    return _NOT_PLAIN


def _describe(value):
    """The type name recorded for a value the file cannot hold."""
    if isinstance(value, (list, tuple)):
        items = sorted({_describe(item) for item in value})
        return f"{type(value).__name__} of {', '.join(items) or 'nothing'}"
    kind = value if isinstance(value, type) else type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _encode_classes(estimator):
    classes = np.asarray(estimator.classes_)
    labels = _plain(classes.tolist(), tag_dicts=False)
    if (
        classes.dtype.kind not in LABEL_KINDS
        or labels is _NOT_PLAIN
        or not all(isinstance(label, SCALARS) for label in labels)
    ):
        raise ValueError(
            "save stores class labels that are numbers, strings or booleans; "
            f"classes_ has dtype {classes.dtype}."
        )
    return {"classes": labels, "classes_dtype": classes.dtype.str}


def _encode_weights(estimator):
    module = uncompiled(estimator.net_.module_)
    return {
        "device": str(estimator.net_.device),
        "state_dict": {
            key: value.detach().cpu() for key, value in module.state_dict().items()
        },
    }


def _encode_history(estimator):
    history = []
    for row in estimator.history_:
        plain = {key: _plain(value, tag_dicts=False) for key, value in row.items()}
        history.append({k: v for k, v in plain.items() if v is not _NOT_PLAIN})
    return {"history": history}


def _encode_feature_names(estimator):
    names = getattr(estimator, "feature_names_in_", None)
    return {"feature_names_in": None if names is None else [str(n) for n in names]}


def _encode_weight_scores(estimator):
    scores = getattr(estimator, "subclass_weight_scores_", None)
    if scores is None:  # a teacher
        return {"subclass_weight_scores": None}
    pairs = [[str(name), float(loss)] for name, loss in scores.items()]
    return {"subclass_weight_scores": pairs}


#: How each fitted attribute is written: attribute name -> record entries.
_ENCODERS = {
    "classes_": _encode_classes,
    "n_subclasses_": lambda e: {"n_subclasses": int(e.n_subclasses_)},
    "n_features_in_": lambda e: {"n_features_in": int(e.n_features_in_)},
    "feature_names_in_": _encode_feature_names,
    "teacher_": lambda e: {"teacher": _encode_teacher(e)},
    "net_": _encode_weights,
    "history_": _encode_history,
    "n_iter_": lambda e: {"n_iter": int(e.n_iter_)},
    "subclass_weight_": lambda e: {
        "subclass_weight": getattr(e, "subclass_weight_", None)
    },
    "subclass_weight_scores_": _encode_weight_scores,
    "class_mass_": lambda e: {"class_mass": getattr(e, "class_mass_", None)},
}
assert set(_ENCODERS) == set(FITTED_ATTRIBUTES), "every fitted attribute is saved"


def _encode_fitted(estimator, encoders):
    """The record of every fitted attribute, as ``encoders`` write them."""
    record = {}
    for encode in encoders.values():
        record.update(encode(estimator))
    return record


def _encode_embedded_model(estimator):
    model = estimator.estimator_
    if model is estimator.estimator:  # a FrozenEstimator: stored once
        return {"estimator": {"__param__": "estimator"}}
    return {"estimator": _encode_param(model)}


def _float64(name):
    return lambda e: {
        name: torch.from_numpy(np.array(getattr(e, name + "_"), dtype=np.float64))
    }


#: How an EmbeddingSubclassTeacher's fitted attributes are written.
_EMBEDDING_ENCODERS = {
    **{name: _ENCODERS[name] for name in EMBEDDING_FITTED_ATTRIBUTES[:4]},
    "estimator_": _encode_embedded_model,
    **{name + "_": _float64(name) for name in ("means", "directions", "scales")},
}
assert tuple(_EMBEDDING_ENCODERS) == EMBEDDING_FITTED_ATTRIBUTES, "all are saved"


def _encode_teacher(estimator):
    teacher = getattr(estimator, "teacher_", None)
    if teacher is None:
        return None
    encoded = _encode_param(teacher)
    if isinstance(encoded, dict) and "__unsaved__" in encoded:
        return None  # a teacher of another kind: the student predicts without it
    if teacher is estimator.teacher:
        return {"__param__": "teacher"}  # a FrozenEstimator: stored once
    return encoded
