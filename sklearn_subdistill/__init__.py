"""Subclass distillation for scikit-learn.

A :class:`SubclassTeacherClassifier` learns to split every class into
subclasses; a :class:`SubclassDistilledStudent` learns from the teacher's
subclass probabilities, which carry more information than its class
probabilities when there are few classes.
"""

from .embedding import EmbeddingSubclassTeacher
from .persistence import load, save
from .student import SubclassDistilledStudent
from .teacher import SubclassTeacherClassifier

__version__ = "0.1.0"

__all__ = [
    "EmbeddingSubclassTeacher",
    "SubclassDistilledStudent",
    "SubclassTeacherClassifier",
    "__version__",
    "load",
    "save",
]
