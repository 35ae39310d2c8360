"""ONNX export through skl2onnx: importing this module registers the converters.

After ``import sklearn_subdistill.onnx``, :func:`skl2onnx.to_onnx` converts a
:class:`~sklearn_subdistill.SubclassDistilledStudent` or a
:class:`~sklearn_subdistill.SubclassTeacherClassifier`, alone or as the last
step of a pipeline, with the outputs skl2onnx gives any classifier: the label
and the class probabilities (a list of dictionaries unless the ``zipmap``
option says otherwise). The option ``subclass_proba=True`` adds a third
output, ``subclass_probabilities``, the :meth:`transform` of the estimator.

The network itself is exported by ``torch.onnx`` (its ``torch.export`` based
exporter, which needs ``onnxscript``), wrapped in :class:`ProbabilityNetwork`
so that the graph computes the probabilities in float32 with a dynamic batch
dimension; skl2onnx's ``add_onnx_graph`` inserts it into the converted model.
"""

import contextlib
import copy
import logging
import re
import warnings
from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn

try:
    from onnx import TensorProto
    from onnx.inliner import inline_local_functions
    from skl2onnx import update_registered_converter
except ImportError as exc:
    raise ImportError(
        "sklearn_subdistill.onnx needs skl2onnx, onnx and onnxscript (and "
        "onnxruntime to run the models): pip install 'sklearn-subdistill[onnx]'"
    ) from exc
from skl2onnx._parse import _apply_zipmap, _parse_sklearn_classifier
from skl2onnx.common._apply_operation import apply_cast, apply_identity
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_tensor_type,
)
from skl2onnx.common.utils import (
    check_input_and_output_numbers,
    check_input_and_output_types,
)
from skl2onnx.common.utils_classifier import (
    _finalize_converter_classes,
    get_label_classes,
)
from skl2onnx.helpers import add_onnx_graph

from ._net import uncompiled
from .modules import SubclassHeadNetwork
from .student import SubclassDistilledStudent
from .teacher import SubclassTeacherClassifier

__all__ = ["ProbabilityNetwork", "export_network"]

#: The options the converters accept (``to_onnx(..., options=...)``).
OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [False, True],
    "subclass_proba": [False, True],
}

_Name = namedtuple("_Name", "onnx_name")  # what add_onnx_graph reads of a variable


class ProbabilityNetwork(nn.Module):
    """A fitted network's class (and subclass) probabilities, in float32.

    The estimators compute their probabilities in float64 after the network;
    this module computes the same quantities in float32 inside one graph, with
    no hooks, no ``functional_call`` and no float64, for ``torch.onnx``.

    Parameters
    ----------
    network : torch.nn.Module
        The fitted estimator's ``net_.module_``: a network mapping
        ``(N, n_features)`` to ``K = n_classes * n_subclasses`` logits, or a
        :class:`~sklearn_subdistill.modules.SubclassHeadNetwork`.
    n_classes : int
        Number of classes ``C``.
    subclass_proba : bool, default=False
        Also return the ``(N, K)`` subclass probabilities.
    """

    def __init__(self, network, n_classes, subclass_proba=False):
        super().__init__()
        self.network = network
        self.n_classes = n_classes
        self.subclass_proba = subclass_proba

    def probas(self, X):
        """Class ``(N, C)`` and subclass ``(N, K)`` probabilities."""
        network = self.network
        if isinstance(network, SubclassHeadNetwork):
            log_probas = network.log_probas(*network.class_and_subclass_logits(X))
            return tuple(log_proba.exp() for log_proba in log_probas)
        proba = F.softmax(network(X), dim=1)
        # (N, K) -> (N, C, s) -> (N, C): a class is the sum of its subclasses
        n_subclasses = proba.shape[1] // self.n_classes
        return proba.reshape(-1, self.n_classes, n_subclasses).sum(dim=2), proba

    def forward(self, X):
        """Class probabilities ``(N, C)`` (and subclass probabilities ``(N, K)``)."""
        class_proba, proba = self.probas(X)
        if self.subclass_proba:
            return class_proba, proba
        return class_proba


def export_network(estimator, subclass_proba=False, opset=None):
    """The fitted estimator's probabilities as an ONNX model, by ``torch.onnx``.

    Parameters
    ----------
    estimator : SubclassDistilledStudent or SubclassTeacherClassifier
        A fitted estimator.
    subclass_proba : bool, default=False
        Also output the subclass probabilities.
    opset : int or None, default=None
        The ONNX opset of the default domain; None lets torch choose.

    Returns
    -------
    model : onnx.ModelProto
        One float32 input ``(N, n_features)``, ``N`` dynamic; outputs as
        :class:`ProbabilityNetwork`. A network trained with
        ``precision="fp64"`` is exported as a float32 copy (its weights
        rounded to float32); the estimator itself is left as it is.

    Raises
    ------
    RuntimeError
        If ``torch.onnx`` cannot export the network; the message names the
        network's class and torch's reason.
    """
    module = uncompiled(estimator.net_.module_)  # compile=True
    if any(t.dtype == torch.float64 for t in module.state_dict().values()):
        # precision="fp64": the graph runs a float32 copy, like every other.
        module = copy.deepcopy(module).float()
    wrapper = ProbabilityNetwork(module, len(estimator.classes_), subclass_proba)
    parameter = next(module.parameters(), None)
    device = "cpu" if parameter is None else parameter.device
    # Two rows: torch.export specialises a dimension of size 1 to a constant.
    example = torch.zeros(2, estimator.n_features_in_, device=device)
    batch = torch.export.Dim("batch")
    was_training = module.training
    wrapper.eval()
    try:
        with _quiet_torch_exporter():
            program = torch.onnx.export(
                wrapper,
                (example,),
                input_names=["X"],
                output_names=["probabilities", "subclass_probabilities"][
                    : 1 + subclass_proba
                ],
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
    except Exception as exc:
        name = f"{type(module).__module__}.{type(module).__qualname__}"
        raise RuntimeError(
            f"torch.onnx could not export the network of {type(estimator).__name__}, "
            f"{name}: {_root_cause(exc)} A network exports when torch.export can "
            "trace its forward pass (no Python control flow on tensor values, no "
            "numpy or other non-torch calls on tensors); the traceback above holds "
            "torch's full report."
        ) from exc
    finally:
        module.train(was_training)
    return inline_local_functions(program.model_proto)


def _root_cause(exc):
    """``Type: first line`` of the innermost exception torch chained."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    message = re.sub(r"\x1b\[[0-9;]*m", "", lines[0].strip()) if lines else ""
    return f"{type(exc).__name__}: {message.rstrip('.')}."


@contextlib.contextmanager
def _quiet_torch_exporter():
    """Silence the exporter's notes about optional packages (torchvision) and
    a deprecation inside torch's own tree utilities, which no user can act on."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r".*LeafSpec.*", category=FutureWarning
            )
            yield
    finally:
        logger.setLevel(level)


# -- skl2onnx parser, shape calculator and converter --------------------------


def _parse(scope, model, inputs, custom_parsers=None):
    """skl2onnx's classifier parser, plus the optional subclass output."""
    options = scope.get_options(model, dict(zipmap=True, subclass_proba=False))
    if not options["subclass_proba"]:
        return _parse_sklearn_classifier(scope, model, inputs, custom_parsers)
    operator = scope.declare_local_operator(_ALIASES[type(model)], model)
    operator.inputs = inputs
    label = scope.declare_local_variable("label", Int64TensorType())
    proba_type = guess_tensor_type(inputs[0].type)
    proba = scope.declare_local_variable("probabilities", proba_type)
    operator.outputs.extend([label, proba])
    outputs = [label, proba]
    if options["zipmap"] is not False:
        outputs = _apply_zipmap(
            options["zipmap"], scope, model, inputs[0].type, outputs
        )
    # Declared last, so that it comes after the label and probabilities.
    subclass = scope.declare_local_variable(
        "subclass_probabilities", proba_type.__class__()
    )
    operator.outputs.append(subclass)
    return [*outputs, subclass]


def _calculate_output_shapes(operator):
    """Label ``(N,)``, probabilities ``(N, C)``, subclass probabilities ``(N, K)``."""
    check_input_and_output_numbers(
        operator, input_count_range=1, output_count_range=[2, 3]
    )
    check_input_and_output_types(
        operator, good_input_types=[FloatTensorType, DoubleTensorType]
    )
    estimator = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    classes = get_label_classes(operator.scope_inst, estimator)
    label_type = StringTensorType if classes.dtype.kind in "OSU" else Int64TensorType
    operator.outputs[0].set_type(label_type(shape=[n_rows]))
    operator.outputs[1].type.shape = [n_rows, len(classes)]
    if len(operator.outputs) == 3:
        n_outputs = len(classes) * estimator.n_subclasses_
        operator.outputs[2].type.shape = [n_rows, n_outputs]


def _convert(scope, operator, container):
    """Insert the exported network, then the label as skl2onnx's classifiers do."""
    estimator = operator.raw_operator
    subclass_proba = len(operator.outputs) == 3
    network = export_network(estimator, subclass_proba, container.target_opset)
    X = operator.inputs[0].full_name
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        X_float = scope.get_unique_variable_name("X_float32")
        apply_cast(scope, X, X_float, container, to=TensorProto.FLOAT)
        X = X_float
    outputs = [scope.get_unique_variable_name("class_proba")]
    if subclass_proba:
        outputs.append(scope.get_unique_variable_name("subclass_proba"))
    graph = _NetworkOperator([_Name(X)], [_Name(name) for name in outputs])
    add_onnx_graph(scope, graph, container, network)
    for computed, output in zip(outputs, operator.outputs[1:], strict=True):
        if isinstance(output.type, DoubleTensorType):
            apply_cast(
                scope, computed, output.full_name, container, to=TensorProto.DOUBLE
            )
        else:
            apply_identity(scope, computed, output.full_name, container)
    argmax = scope.get_unique_variable_name("argmax")
    container.add_node(
        "ArgMax",
        outputs[0],
        argmax,
        axis=1,
        name=scope.get_unique_operator_name("ArgMax"),
    )
    _finalize_converter_classes(
        scope,
        argmax,
        operator.outputs[0].full_name,
        container,
        get_label_classes(scope, estimator),
        TensorProto.FLOAT,
    )


_NetworkOperator = namedtuple("_NetworkOperator", "inputs outputs")

_ALIASES = {
    SubclassDistilledStudent: "SklearnSubdistillSubclassDistilledStudent",
    SubclassTeacherClassifier: "SklearnSubdistillSubclassTeacherClassifier",
}

for _estimator, _alias in _ALIASES.items():
    update_registered_converter(
        _estimator,
        _alias,
        _calculate_output_shapes,
        _convert,
        parser=_parse,
        options=OPTIONS,
    )
