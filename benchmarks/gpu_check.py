"""What the package does on a GPU at today's defaults: one short, checked run.

Every sentence of ``docs/gpu.rst`` about a GPU is meant to rest on this
script's results file, ``benchmarks/results/gpu_check.md``. On the digits
collapsed to 0-4 against 5-9 (features standardised) it checks, on
``--device`` (CUDA by default):

- ``device="auto"`` resolves to CUDA when torch sees one;
- the default teacher, at every ``subclass_head`` and every ``precision``
  (``fp32``, ``bf16``, ``fp16``), trains there: test accuracy, float64
  probabilities that sum to one, the subclass distribution's rows likewise;
- the default teacher with ``early_stopping=True`` (``fp32``, ``bf16``)
  records its subclass network's validation loss every epoch;
- the default student (``subclass_weight="auto"``) of the fp32 teacher
  trains there: its choice, accuracy and probabilities;
- a student saved there with :func:`sklearn_subdistill.save` loads with
  ``device="cpu"`` and predicts the same probabilities to float32 rounding
  (``1e-5``: the same weights, other kernels);
- its ONNX export (``skl2onnx.to_onnx`` with the package's converter,
  onnxruntime on the CPU) gives the same probabilities to ``1e-5``;

and times, on ``--rows`` x 64 random rows, the default teacher's and a
fixed-weight student's ``fit`` (rows/s per epoch, after a first epoch) and
``predict_proba``. A failed check stops the script with its reason; the
results file is written only when every check passed.

Usage (on the GPU machine; a CPU run is a smoke test of the script itself)::

    python benchmarks/gpu_check.py                 # CUDA
    python benchmarks/gpu_check.py --device cpu --quick
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import Timer, header, markdown_table, package_defaults, write_results
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    load,
    save,
)


def check(condition, what):
    if not condition:
        raise SystemExit(f"check failed: {what}")


def digits():
    X, digit = load_digits(return_X_y=True)
    y = (digit >= 5).astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return (
        scaler.transform(X_train).astype(np.float32),
        scaler.transform(X_test).astype(np.float32),
        y_train,
        y_test,
    )


def checked_proba(model, X, what):
    proba, subclass = model.predict_proba(X), model.transform(X)
    check(proba.dtype == np.float64, f"{what}: float64 probabilities")
    check(np.allclose(proba.sum(1), 1.0, rtol=0, atol=1e-9), f"{what}: rows sum to 1")
    check(np.allclose(subclass.sum(1), 1.0, rtol=0, atol=1e-9), f"{what}: subclasses")
    return proba


def timed_fit(make, X, y, epochs):
    """rows/s of ``fit`` per epoch after the first (``epochs`` >= 2)."""
    model = make(1).fit(X, y)  # warm-up: kernels, allocator
    start = time.perf_counter()
    model = make(epochs).fit(X, y)
    if "cuda" in str(model.net_.device):
        torch.cuda.synchronize()
    first = model.history_[0, "dur"]
    return len(X) * (epochs - 1) / (time.perf_counter() - start - first), model


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs = 5_000, 2
    if args.device.startswith("cuda"):
        check(torch.cuda.is_available(), "torch sees no CUDA device")
        auto = SubclassTeacherClassifier(max_epochs=1, device="auto")
        auto.fit(np.zeros((4, 3), np.float32), [0, 1, 0, 1])
        check(auto.net_.device.startswith("cuda"), 'device="auto" resolves to CUDA')
    timer = Timer()
    X_train, X_test, y_train, y_test = digits()
    epochs = 5 if args.quick else 30
    rows = []
    teachers = {}
    # Every head at every precision; then the default with early stopping,
    # network by network: the subclass network's validation loss runs its
    # forward pass as the net's precision runs it.
    configs = [
        (head, precision, False)
        for head in ("separate", "detached", "shared")
        for precision in ("fp32", "bf16", "fp16")
    ]
    configs += [("separate", precision, True) for precision in ("fp32", "bf16")]
    for head, precision, early_stopping in configs:
        teacher = SubclassTeacherClassifier(
            subclass_head=head, precision=precision, early_stopping=early_stopping,
            max_epochs=epochs, device=args.device, random_state=0,
        ).fit(X_train, y_train)  # fmt: skip
        what = f"teacher {head} {precision}"
        checked_proba(teacher, X_test, what)
        if early_stopping:
            what += ", early_stopping=True"
            losses = np.asarray(teacher.history_[:, "valid_subclass_loss"])
            check(
                len(losses) == teacher.n_iter_ and np.isfinite(losses).all(),
                f"{what}: a finite valid_subclass_loss every epoch",
            )
        else:
            teachers[head, precision] = teacher
        accuracy = teacher.score(X_test, y_test)
        check(args.quick or accuracy > 0.9, f"{what}: accuracy {accuracy:.3f}")
        rows.append([what, f"{accuracy:.4f}", "", ""])
    teacher = teachers["separate", "fp32"]
    student = SubclassDistilledStudent(
        teacher=FrozenEstimator(teacher), hidden_layer_sizes=(32,),
        max_epochs=epochs * 2, device=args.device, random_state=0,
    ).fit(X_train, y_train)  # fmt: skip
    proba = checked_proba(student, X_test, "student")
    accuracy = student.score(X_test, y_test)
    check(args.quick or accuracy > 0.9, f"student: accuracy {accuracy:.3f}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "student.pt"
        save(student, path)
        on_cpu = load(path, device="cpu")
    gap_cpu = np.abs(on_cpu.predict_proba(X_test) - proba).max()
    check(gap_cpu < 1e-5, f"student loaded on the CPU: {gap_cpu:.2e} from CUDA's")
    from onnxruntime import InferenceSession
    from skl2onnx import to_onnx

    import sklearn_subdistill.onnx  # noqa: F401 (registers the converters)

    options = {SubclassDistilledStudent: {"zipmap": False}}
    model = to_onnx(student, X_test[:1], options=options)
    session = InferenceSession(model.SerializeToString())
    outputs = session.run(None, {session.get_inputs()[0].name: X_test})
    onnx_proba = np.asarray(outputs[1], dtype=np.float64)
    gap_onnx = np.abs(onnx_proba - proba).max()
    check(gap_onnx < 1e-5, f"ONNX export: {gap_onnx:.2e} from predict_proba")
    rows.append(
        [
            f"student (auto: weight {student.subclass_weight_:g}, "
            f"{student.class_mass_})",
            f"{accuracy:.4f}",
            f"{gap_cpu:.1e}",
            f"{gap_onnx:.1e}",
        ]
    )

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 64), dtype=np.float32)
    y = (X[:, :8].sum(1) > 0).astype(np.int64)
    speed = []
    for batch in (256, 2048):
        teacher_rate, big = timed_fit(
            lambda n, b=batch: SubclassTeacherClassifier(
                max_epochs=n, batch_size=b, device=args.device, random_state=0
            ),
            X, y, args.epochs,
        )  # fmt: skip
        student_rate, _ = timed_fit(
            lambda n, b=batch, t=big: SubclassDistilledStudent(
                teacher=FrozenEstimator(t), subclass_weight=1.0, temperature=4.0,
                max_epochs=n, batch_size=b, device=args.device, random_state=0,
            ),
            X, y, args.epochs,
        )  # fmt: skip
        speed.append([batch, f"{teacher_rate:,.0f}", f"{student_rate:,.0f}"])
    start = time.perf_counter()
    big.predict_proba(X)
    predict_rate = len(X) / (time.perf_counter() - start)

    description = f"""
Every check passed on `{args.device}`{" (quick smoke run)" if args.quick else ""}:
`device="auto"` resolves to CUDA (CUDA runs only); each teacher below trains
and predicts float64 probabilities whose rows (and subclass rows) sum to one;
the default student of the fp32 separate teacher, saved with
`sklearn_subdistill.save` and loaded with `device="cpu"`, and its ONNX export
(onnxruntime, CPU) predict its probabilities to within 1e-5 (largest
differences in the table). Digits 0-4 against 5-9, standardised; teachers
`MLP(256, 256)`, {epochs} epochs; the student `MLP(32)`, {epochs * 2} epochs.
Speed: {args.rows:,} x 64 random rows, rows/s per epoch after the first of
{args.epochs}, the default teacher and a student fixed at
`subclass_weight=1, temperature=4`; `predict_proba` of that teacher on the
same rows: {predict_rate:,.0f} rows/s.
"""
    parts = [
        header(
            "GPU check at today's defaults",
            description,
            timer(),
            settings=package_defaults(),
        ),
        markdown_table(
            ["model", "test accuracy", "CPU load, max diff", "ONNX, max diff"], rows
        ),
        "",
        markdown_table(["batch", "teacher fit rows/s", "student fit rows/s"], speed),
    ]
    write_results("gpu_check", "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
