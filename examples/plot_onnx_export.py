"""
==========================================
Serving a student with ONNX, without torch
==========================================

A distilled student is meant to be deployed. Importing
:mod:`sklearn_subdistill.onnx` registers converters with
`skl2onnx <https://onnx.ai/sklearn-onnx/>`_, so that a pipeline ending in a
:class:`~sklearn_subdistill.SubclassDistilledStudent` converts to one ONNX
model like any scikit-learn classifier; onnxruntime then serves it with no
torch, skorch or scikit-learn installed. This needs the ``onnx`` extra:
``pip install "sklearn-subdistill[onnx]"``.
"""

# %%
# Distil
# ------
# A teacher with 5 subclasses per class on the digits split into 0-4 and
# 5-9, and a student with one hidden layer of 32 units, behind a scaler.
import time

import numpy as np
import onnxruntime
import pandas as pd
from skl2onnx import to_onnx
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_subdistill.onnx  # noqa: F401  (registers the converters)
from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses

X, y, _ = load_digits_superclasses(n_superclasses=2)
X_train, X_test, y_train, y_test = train_test_split(
    X.astype(np.float32), y, test_size=0.3, stratify=y, random_state=0
)
teacher = SubclassTeacherClassifier(
    n_subclasses=5, hidden_layer_sizes=(128,), max_epochs=20, random_state=0
)
pipeline = make_pipeline(
    StandardScaler(),
    SubclassDistilledStudent(
        teacher=teacher, hidden_layer_sizes=(32,), max_epochs=20, random_state=0
    ),
).fit(X_train, y_train)
print(f"test accuracy: {pipeline.score(X_test, y_test):.3f}")

# %%
# Export
# ------
# ``to_onnx`` converts the whole pipeline from one example row; the batch
# dimension stays dynamic. The options go to the student:
# ``zipmap=False`` gives the probabilities as one array rather than one
# dictionary per row, and ``subclass_proba=True`` adds the student's subclass
# probabilities (its ``transform``).
options = {SubclassDistilledStudent: {"zipmap": False, "subclass_proba": True}}
model = to_onnx(pipeline, X_train[:1], options=options)
print([output.name for output in model.graph.output])

# %%
# Serve
# -----
# onnxruntime runs the model; it gives the labels and probabilities of
# ``predict`` and ``predict_proba``, computed in float32.
session = onnxruntime.InferenceSession(
    model.SerializeToString(), providers=["CPUExecutionProvider"]
)
label, proba, subclass_proba = session.run(None, {"X": X_test})
print("same labels:", np.array_equal(label, pipeline.predict(X_test)))
difference = np.abs(proba - pipeline.predict_proba(X_test)).max()
print(f"largest probability difference: {difference:.1e}")
print(f"subclass probabilities: {subclass_proba.shape}")

# %%
# Compare
# -------
# One row at a time, as a service answers requests: the median time of a
# call through onnxruntime and through the pipeline's ``predict_proba``.


def median_us(predict, x, calls=200):
    for _ in range(20):
        predict(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return np.median(times) * 1e6


one_row = X_test[:1]
pd.DataFrame(
    {
        "one row (us)": [
            median_us(lambda x: session.run(["probabilities"], {"X": x}), one_row),
            median_us(pipeline.predict_proba, one_row),
        ]
    },
    index=["onnxruntime", "predict_proba"],
).round(1)
