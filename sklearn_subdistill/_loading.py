"""Reading the plain data of a model file back into an estimator.

The counterpart of ``persistence``'s writers: every value is checked to be
of the kind the writer produces before it is used, and classes are looked
up by name in a fixed table, never imported.
"""

import warnings

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from ._base import FITTED_ATTRIBUTES
from ._devices import resolve_device, usable_device
from .embedding import FITTED_ATTRIBUTES as EMBEDDING_FITTED_ATTRIBUTES
from .embedding import EmbeddingSubclassTeacher
from .student import SubclassDistilledStudent
from .teacher import SubclassTeacherClassifier

#: The only classes a file can name, looked up by name, never imported.
CLASSES = {
    cls.__name__: cls
    for cls in (
        SubclassTeacherClassifier,
        SubclassDistilledStudent,
        EmbeddingSubclassTeacher,
    )
}
SCALARS = (type(None), bool, int, float, str)
#: Kinds of numpy dtype ``classes_`` may have in a file.
LABEL_KINDS = "biufUO"


def is_raw_plain(value):
    """Plain data without tags: what a history row or a label list may hold."""
    if isinstance(value, SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_raw_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_raw_plain(v) for k, v in value.items())
    return False


def expect(condition, what):
    if not condition:
        raise ValueError(
            f"Not a valid sklearn_subdistill model file: bad or missing {what}."
        )


class Loader:
    """Rebuilds estimators from the plain data of a file."""

    def __init__(self, supplied, device):
        self.supplied = supplied
        self.device = device
        self.used = set()
        self.missing = []

    def estimator(self, encoded, prefix):
        expect(isinstance(encoded, dict), "estimator record")
        cls = CLASSES.get(encoded.get("class"))
        expect(cls is not None, "estimator class")
        params = encoded.get("params")
        expect(isinstance(params, dict), "parameters")
        decoded = {
            key: self.value(value, prefix + key)
            for key, value in params.items()
            if isinstance(key, str)
        }
        if self.missing:
            return None
        if cls is SubclassTeacherClassifier and "class_mass" not in decoded:
            # Saved before class_mass existed: its transform split the class
            # network's probabilities.
            decoded["class_mass"] = "class_network"
        device = decoded.get("device")
        if device is not None and not usable_device(device):
            decoded["device"] = "cpu"
            warnings.warn(
                f"The file's {cls.__name__} has device={str(device)!r}, which this "
                "machine does not have; its device parameter is now 'cpu'.",
                UserWarning,
                stacklevel=4,
            )
        estimator = cls(**decoded)
        fitted = encoded.get("fitted")
        if cls is EmbeddingSubclassTeacher:
            return self.embedding_teacher(estimator, fitted, prefix)
        if fitted is None:
            return estimator._restore(None, device="cpu")
        attributes = self.restore(estimator, fitted, prefix)
        if attributes.get("teacher_") == {"__param__": "teacher"}:
            attributes["teacher_"] = estimator.teacher
        return estimator._restore(attributes, device=self.device_for(fitted))

    def embedding_teacher(self, estimator, fitted, prefix):
        """An EmbeddingSubclassTeacher from its record (see ``persistence``)."""
        estimator._validate_params()
        if fitted is None:
            return estimator
        expect(isinstance(fitted, dict), "fitted state")
        inner = fitted.get("estimator")
        if inner == {"__param__": "estimator"}:
            model = estimator.estimator
        else:
            expect(isinstance(inner, dict) and "__estimator__" in inner, "estimator_")
            model = self.value(inner, prefix + "estimator")
        if self.missing:
            return None
        arrays = {}
        for name in ("means", "directions", "scales"):
            value = fitted.get(name)
            expect(
                isinstance(value, torch.Tensor) and value.dtype == torch.float64,
                name + "_",
            )
            arrays[name] = value.numpy().copy()
        classes = self._decode_classes(fitted, prefix)
        n_subclasses = self._decode_int(fitted, "n_subclasses")
        n_classes, n_dims = (
            arrays["means"].shape if arrays["means"].ndim == 2 else (0, 0)
        )
        expect(
            n_classes == len(classes)
            and arrays["directions"].shape == (n_classes, n_subclasses, n_dims)
            and arrays["scales"].shape == (n_classes,),
            "shapes of means_, directions_ and scales_",
        )
        fitted_attributes = {
            "n_features_in_": self._decode_int(fitted, "n_features_in"),
            "feature_names_in_": self._decode_feature_names_in(fitted, prefix),
            "classes_": classes,
            "n_subclasses_": n_subclasses,
            "estimator_": model,
            **{name + "_": value for name, value in arrays.items()},
        }
        assert tuple(fitted_attributes) == EMBEDDING_FITTED_ATTRIBUTES
        for name, value in fitted_attributes.items():
            if value is not None:  # no feature_names_in_ without names
                setattr(estimator, name, value)
        return estimator

    def value(self, value, key):
        if isinstance(value, list):
            return [self.value(item, key) for item in value]
        if isinstance(value, tuple):
            return tuple(self.value(item, key) for item in value)
        if not isinstance(value, dict):
            expect(isinstance(value, SCALARS), f"value of {key}")
            return value
        expect(len(value) == 1, f"value of {key}")
        ((tag, inner),) = value.items()
        if tag == "__dict__":
            expect(isinstance(inner, dict), f"value of {key}")
            return {k: self.value(v, f"{key}[{k!r}]") for k, v in inner.items()}
        if tag == "__device__":
            expect(isinstance(inner, str), f"device of {key}")
            return torch.device(inner)
        if tag == "__estimator__":
            return self.estimator(inner, key + "__")
        if tag == "__frozen__":
            inner_estimator = self.estimator(inner, key + "__")
            return None if inner_estimator is None else FrozenEstimator(inner_estimator)
        if tag == "__unsaved__":
            if key in self.supplied:
                self.used.add(key)
                return self.supplied[key]
            self.missing.append((key, inner))
            return None
        expect(False, f"value of {key}")

    def restore(self, estimator, fitted, prefix):
        """The fitted state of ``fitted``, a record written by ``_encode_fitted``."""
        expect(isinstance(fitted, dict), "fitted state")
        attributes = {}
        for name in FITTED_ATTRIBUTES:
            value = getattr(self, "_decode_" + name.rstrip("_"))(fitted, prefix)
            if value is not None:
                attributes[name] = value
        return attributes

    def _decode_classes(self, fitted, prefix):
        dtype = fitted.get("classes_dtype")
        expect(isinstance(dtype, str), "classes_ dtype")
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            expect(False, "classes_ dtype")
        expect(dtype.kind in LABEL_KINDS, "classes_ dtype")
        classes = fitted.get("classes")
        expect(isinstance(classes, list) and is_raw_plain(classes), "classes_")
        return np.asarray(classes, dtype=dtype)

    def _decode_int(self, fitted, key):
        expect(isinstance(fitted.get(key), int), key)
        return fitted[key]

    def _decode_n_subclasses(self, fitted, prefix):
        return self._decode_int(fitted, "n_subclasses")

    def _decode_n_features_in(self, fitted, prefix):
        return self._decode_int(fitted, "n_features_in")

    def _decode_n_iter(self, fitted, prefix):
        return self._decode_int(fitted, "n_iter")

    def _decode_feature_names_in(self, fitted, prefix):
        names = fitted.get("feature_names_in")
        if names is None:
            return None
        expect(isinstance(names, list) and is_raw_plain(names), "feature names")
        return np.asarray(names, dtype=object)

    def _decode_history(self, fitted, prefix):
        history = fitted.get("history")
        expect(isinstance(history, list) and is_raw_plain(history), "history")
        return history

    def _decode_net(self, fitted, prefix):
        state = fitted.get("state_dict")
        expect(
            isinstance(state, dict)
            and all(isinstance(v, torch.Tensor) for v in state.values()),
            "weights",
        )
        return state

    def _decode_subclass_weight(self, fitted, prefix):
        weight = fitted.get("subclass_weight")  # a student's; None for a teacher
        expect(weight is None or isinstance(weight, float), "subclass_weight_")
        return weight

    def _decode_subclass_weight_scores(self, fitted, prefix):
        scores = fitted.get("subclass_weight_scores")
        if scores is None:
            return None
        expect(
            isinstance(scores, list)
            and all(
                isinstance(pair, list) and len(pair) == 2 and is_raw_plain(pair)
                for pair in scores
            ),
            "subclass_weight_scores_",
        )
        # Files written before the candidates had names keyed them by weight.
        return {
            name if isinstance(name, str) else float(name): float(loss)
            for name, loss in scores
        }

    def _decode_class_mass(self, fitted, prefix):
        class_mass = fitted.get("class_mass")
        if fitted.get("subclass_weight") is not None and class_mass is None:
            # A student saved before class_mass existed distilled the
            # teacher's subclass distribution as it was.
            return "subclasses"
        expect(class_mass is None or isinstance(class_mass, str), "class_mass_")
        return class_mass

    def _decode_teacher(self, fitted, prefix):
        teacher = fitted.get("teacher")
        if teacher is None or teacher == {"__param__": "teacher"}:
            return teacher  # the FrozenEstimator parameter, set by the caller
        return self.value(teacher, prefix + "teacher")

    def device_for(self, fitted):
        """Where to put a loaded network: the caller's choice, or the saved one."""
        if self.device is not None:
            return self.device
        saved = fitted.get("device", "cpu")
        try:
            return resolve_device(saved)
        except ValueError:
            warnings.warn(
                f"The model was trained on {saved!r}, which this machine does "
                "not have; it is loaded on the CPU.",
                UserWarning,
                stacklevel=4,
            )
            return "cpu"
