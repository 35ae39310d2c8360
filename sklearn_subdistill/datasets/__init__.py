"""Datasets whose classes hide subclasses.

Subclass distillation helps when each class is a union of hidden subclasses that
a teacher can discover. These generators and loaders return the hidden labels
next to the class labels, so that discovered subclasses can be scored with
:func:`sklearn_subdistill.metrics.subclass_recovery_score`.
"""

from ._digits import collapse_classes, load_digits_superclasses
from ._generators import make_clickthrough, make_subclass_classification

__all__ = [
    "collapse_classes",
    "load_digits_superclasses",
    "make_clickthrough",
    "make_subclass_classification",
]
