"""Serving latency: the student through onnxruntime against the Python estimators.

On the digits split into 0-4 and 5-9 (features standardised), times the
latency of one row (median over ``--calls`` calls after a warm-up, as a user
serving one request at a time sees it) and the throughput on 10,000 rows
(median of ``--repeats`` runs) of:

- the student (MLP 32) with its scaler, converted by ``skl2onnx.to_onnx``
  and run by onnxruntime; and the student alone the same way;
- the student's, the teacher's (MLP 256-256), scikit-learn's
  ``MLPClassifier((32,))`` and a ``HistGradientBoostingClassifier``'s
  ``predict_proba``.

Teacher and student are at the package's defaults but for the network sizes
and epochs (the default teacher: a class network and a subclass network;
the default student's ``subclass_weight="auto"`` chooses whether it distils
the split, which sets its number of outputs).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/onnx_latency.py
    python benchmarks/onnx_latency.py --quick   # a fast smoke run
"""

import argparse
import statistics
import time
import warnings

import numpy as np
import onnxruntime
from _common import (
    RESULTS,
    Timer,
    header,
    markdown_table,
    package_defaults,
    pin_threads,
)
from skl2onnx import to_onnx
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_subdistill.onnx  # noqa: F401  (registers the converters)
from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill.datasets import load_digits_superclasses


def one_row_us(predict, x, calls):
    """Median microseconds of ``predict(x)`` over ``calls`` calls, after a warm-up."""
    for _ in range(30):
        predict(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def rows_per_s(predict, X, repeats):
    """Median rows per second of ``predict(X)`` over ``repeats`` runs."""
    predict(X)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - start)
    return len(X) / statistics.median(times)


def onnx_predict_proba(model):
    """``predict_proba`` of a converted model (zipmap off) under onnxruntime."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return lambda X: session.run(["probabilities"], {name: X})[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="few epochs and calls")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.repeats = 50, 2
    threads = pin_threads(1)
    timer = Timer()

    X, y, _ = load_digits_superclasses(n_superclasses=2)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y, test_size=0.3, random_state=0, stratify=y
    )
    epochs = 5 if args.quick else 60
    teacher = SubclassTeacherClassifier(max_epochs=epochs, device="cpu", random_state=0)
    student = make_pipeline(
        StandardScaler(),
        SubclassDistilledStudent(
            teacher=teacher,
            hidden_layer_sizes=(32,),
            max_epochs=epochs,
            device="cpu",
            random_state=0,
        ),
    ).fit(X_train, y_train)
    scaler, fitted_student = student[0], student[-1]
    X_train_s, X_test_s = scaler.transform(X_train), scaler.transform(X_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32,), max_iter=epochs * 3, random_state=0)
        mlp.fit(X_train_s, y_train)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(X_train_s, y_train)

    conversion = Timer()
    pipeline_onnx = to_onnx(student, X_train[:1], options={"zipmap": False})
    student_onnx = to_onnx(fitted_student, X_train_s[:1], options={"zipmap": False})
    conversion_s = conversion() / 2

    big = np.resize(X_test, (10_000, X_test.shape[1]))  # the test rows, repeated
    big_s = scaler.transform(big).astype(np.float32)
    rows = []
    cases = [
        ("student + scaler, onnxruntime", onnx_predict_proba(pipeline_onnx), False),
        ("student network, onnxruntime", onnx_predict_proba(student_onnx), True),
        ("student predict_proba", fitted_student.predict_proba, True),
        ("teacher predict_proba", fitted_student.teacher_.predict_proba, True),
        ("MLPClassifier((32,)) predict_proba", mlp.predict_proba, True),
        ("HistGradientBoostingClassifier predict_proba", hgb.predict_proba, True),
    ]
    for name, predict, scaled in cases:
        X_eval, X_big = (X_test_s, big_s) if scaled else (X_test, big)
        accuracy = np.mean(np.asarray([0, 1])[predict(X_eval).argmax(1)] == y_test)
        rows.append(
            [
                name,
                f"{accuracy:.3f}",
                f"{one_row_us(predict, X_eval[:1], args.calls):.1f}",
                f"{rows_per_s(predict, X_big, args.repeats):,.0f}",
            ]
        )

    table = markdown_table(
        ["model", "test accuracy", "one row (us, median)", "10,000 rows (rows/s)"],
        rows,
    )
    description = (
        f"Digits 0-4 against 5-9, {len(X_train)} training rows. One row: median of "
        f"{args.calls} calls after 30 warm-up calls. Throughput: the "
        f"{len(X_test)} test rows repeated to 10,000, median of {args.repeats} runs. "
        f"Student: MLP(32) distilled from a teacher of two MLP(256, 256) networks "
        f"(class and subclass network) with {fitted_student.teacher_.n_subclasses_} "
        f"subclasses per class, {epochs} epochs each; the student's "
        f"subclass_weight_ (chosen by 'auto'): {fitted_student.subclass_weight_:g}, "
        f"so {fitted_student.net_.module_.layers[-1].out_features} outputs. "
        "onnxruntime on one thread "
        "(CPUExecutionProvider), torch on one thread. 'student + scaler' is the "
        "whole pipeline on raw features; every other row starts from standardised "
        f"features. Conversion by skl2onnx took {conversion_s:.1f} s per model."
    )
    markdown = header(
        "Serving latency: ONNX export against predict_proba",
        description,
        timer(),
        {**package_defaults(), "torch threads": threads},
    )
    markdown += "\n" + table + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("onnx_latency_quick.md" if args.quick else "onnx_latency.md")
    path.write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
