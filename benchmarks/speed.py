"""Speed and memory of the estimators against a minimal hand-written torch loop.

In one process, alternating the two, times:

- the teacher's ``fit`` against a raw loop with the same MLP, loss, epochs, batch
  size, optimizer, seed and threads;
- the student's ``fit`` (teacher logits computed once, then distillation)
  against the same in a raw loop;
- ``predict_proba`` on ``--predict-rows`` rows against plain batched torch
  inference, with the peak memory each adds over its input.

Also times skorch's default data path (``skorch.dataset.Dataset`` rows collated
by a ``DataLoader``) on the same net, to show what the slicing iterator saves.

Usage::

    python benchmarks/speed.py                 # CPU, the issue's settings
    python benchmarks/speed.py --device cuda   # on a GPU machine
    python benchmarks/speed.py --quick         # a fast smoke run
"""

import argparse
import platform
import statistics
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.frozen import FrozenEstimator
from skorch.dataset import Dataset as SkorchDataset
from torch.utils.data import DataLoader

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill._net import SubclassNet
from sklearn_subdistill.losses import class_logits
from sklearn_subdistill.modules import (
    MLP,
    SubclassDistillationLoss,
    SubclassTeacherLoss,
)


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled)."""

    def __init__(self, interval=0.002):
        self.interval = interval

    @staticmethod
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def added(self):
        return self.peak - self.start


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def raw_fit(X, targets, criterion, n_outputs, args, seed):
    """The minimal loop: whole tensors on the device, shuffled index slices."""
    device = args.device
    torch.manual_seed(seed)
    model = MLP(X.shape[1], n_outputs, hidden_layer_sizes=(256, 256)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t = torch.as_tensor(X).to(device)
    targets = [t.to(device) for t in targets]
    generator = torch.Generator().manual_seed(seed)
    for _ in range(args.epochs):
        order = torch.randperm(len(X_t), generator=generator).to(device)
        for start in range(0, len(X_t), args.batch_size):
            index = order[start : start + args.batch_size]
            batch_targets = [t[index] for t in targets]
            optimizer.zero_grad()
            target = batch_targets[0] if len(batch_targets) == 1 else batch_targets
            loss = criterion(model(X_t[index]), target)
            loss.backward()
            optimizer.step()
            loss.item()  # as any loop that logs its loss
    sync(device)
    return model


def raw_predict_proba(model, X, n_classes, device, batch_size=8192):
    """Plain batched inference: float32 batches in, class probabilities out."""
    out = np.empty((len(X), n_classes))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = torch.from_numpy(X[start : start + batch_size]).to(device)
            log_p = F.log_softmax(model(batch).double(), dim=1)
            out[start : start + batch_size] = (
                class_logits(log_p, n_classes).exp().cpu().numpy()
            )
    return out


def skorch_default_fit(X, y, args, seed):
    """The same net through skorch's default path: per-row Dataset + DataLoader."""
    net = SubclassNet(
        module=MLP,
        module__n_features=X.shape[1],
        module__n_outputs=2 * args.subclasses,
        module__hidden_layer_sizes=(256, 256),
        criterion=SubclassTeacherLoss(n_classes=2),
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        iterator_train=DataLoader,
        iterator_train__shuffle=True,
        train_split=None,
        device=args.device,
        verbose=0,
    )
    torch.manual_seed(seed)
    net.fit(SkorchDataset(X, y), None)
    sync(args.device)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--subclasses", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 pairs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs, args.pairs, args.predict_rows = 4000, 2, 2, 100_000

    rng = np.random.RandomState(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    y = (X[:, :8].sum(1) + 0.5 * rng.standard_normal(args.rows) > 0).astype(np.int64)
    common = dict(
        hidden_layer_sizes=(256, 256),
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        device=args.device,
    )
    teacher_criterion = SubclassTeacherLoss(n_classes=2)
    student_criterion = SubclassDistillationLoss(n_classes=2)
    K = 2 * args.subclasses

    times = {k: [] for k in ("teacher", "raw teacher", "student", "raw student")}
    times["skorch default"] = []
    fitted_teacher = None
    for pair in range(args.pairs):
        seed = pair
        t_est, fitted_teacher = timed(
            # The paper's single-head network: what the raw loop below trains.
            lambda seed=seed: SubclassTeacherClassifier(
                n_subclasses=args.subclasses,
                subclass_head="shared",
                aux_loss="contrastive",
                random_state=seed,
                **common,
            ).fit(X, y)
        )
        t_raw, _ = timed(
            lambda seed=seed: raw_fit(
                X, [torch.as_tensor(y)], teacher_criterion, K, args, seed
            )
        )
        times["teacher"].append(t_est)
        times["raw teacher"].append(t_raw)

        frozen = FrozenEstimator(fitted_teacher)
        t_est, _ = timed(
            # subclass_weight=1: the paper's loss, which the raw loop computes.
            lambda seed=seed, frozen=frozen: SubclassDistilledStudent(
                teacher=frozen, random_state=seed, subclass_weight=1.0, **common
            ).fit(X, y)
        )

        def raw_student(seed=seed, fitted_teacher=fitted_teacher):
            logits = torch.as_tensor(
                fitted_teacher.predict_subclass_log_proba(X), dtype=torch.float32
            )
            return raw_fit(
                X, [torch.as_tensor(y), logits], student_criterion, K, args, seed
            )

        t_raw, _ = timed(raw_student)
        times["student"].append(t_est)
        times["raw student"].append(t_raw)
        t_default, _ = timed(lambda seed=seed: skorch_default_fit(X, y, args, seed))
        times["skorch default"].append(t_default)

    rows = args.rows * args.epochs
    print(
        f"# Speed: {args.rows} x {args.features} float32, MLP 256-256, C=2, "
        f"s={args.subclasses}, batch {args.batch_size}, {args.epochs} epochs, "
        f"Adam; device {args.device}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {platform.machine()}"
    )
    print()
    print("| fit | median s | rows/s | ratio to raw loop (median of pairs) |")
    print("|---|---:|---:|---:|")
    for name, raw in [
        ("teacher", "raw teacher"),
        ("student", "raw student"),
        ("skorch default", "raw teacher"),
    ]:
        ratios = [a / b for a, b in zip(times[name], times[raw], strict=True)]
        med, ratio = statistics.median(times[name]), statistics.median(ratios)
        print(f"| {name} | {med:.2f} | {rows / med:,.0f} | {ratio:.3f} |")
    for raw in ("raw teacher", "raw student"):
        med = statistics.median(times[raw])
        print(f"| {raw} loop | {med:.2f} | {rows / med:,.0f} | 1 |")

    # Inference on many rows: time and peak memory over the input.
    X_big = rng.standard_normal((args.predict_rows, args.features)).astype(np.float32)
    model = fitted_teacher.net_.module_
    pred_times = {"predict_proba": [], "raw inference": []}
    peaks = {"predict_proba": 0, "raw inference": 0}
    for _ in range(args.pairs):
        with PeakRSS() as mem:
            t, p_est = timed(lambda: fitted_teacher.predict_proba(X_big))
        pred_times["predict_proba"].append(t)
        peaks["predict_proba"] = max(peaks["predict_proba"], mem.added)
        with PeakRSS() as mem:
            t, p_raw = timed(lambda: raw_predict_proba(model, X_big, 2, args.device))
        pred_times["raw inference"].append(t)
        peaks["raw inference"] = max(peaks["raw inference"], mem.added)
    assert np.allclose(p_est, p_raw, atol=1e-6), "the two inference paths disagree"
    ratios = [
        a / b
        for a, b in zip(
            pred_times["predict_proba"], pred_times["raw inference"], strict=True
        )
    ]
    print()
    print(
        f"| predict_proba, {args.predict_rows:,} x {args.features} "
        f"(input {X_big.nbytes / 2**20:.0f} MiB) | median s | rows/s | "
        "peak RSS added (MiB) | ratio |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in ("predict_proba", "raw inference"):
        med = statistics.median(pred_times[name])
        ratio = statistics.median(ratios) if name == "predict_proba" else 1.0
        print(
            f"| {name} | {med:.2f} | {args.predict_rows / med:,.0f} | "
            f"{peaks[name] / 2**20:.0f} | {ratio:.3f} |"
        )
    if args.device.startswith("cuda"):
        print(
            "\nCUDA peak allocated: "
            f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
        )


if __name__ == "__main__":
    main()
