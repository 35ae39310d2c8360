"""Speed and memory of the estimators against a minimal hand-written torch loop.

In one process, alternating the two, times:

- the default teacher's ``fit`` (a class network and a subclass network,
  ``SubclassHeadNetwork``) against a raw loop with the same module, loss,
  epochs, batch size, optimizer, seed and threads;
- the default student's ``fit`` (``subclass_weight="auto"``: up to three
  candidates on each of four folds of the rows, where they keep a split a
  teacher and up to three candidates more per fold, then a refit on all of
  them), and
  a student fixed at the weight, temperature and class mass ``"auto"`` chose
  (one fit: the teacher's logits computed once, then distillation) against
  the same loss in a raw loop;
- ``predict_proba`` on ``--predict-rows`` rows against plain batched torch
  inference of the same module, with the peak memory each adds over its input.

Also times skorch's default data path (``skorch.dataset.Dataset`` rows collated
by a ``DataLoader``) on the teacher's net, to show what the slicing iterator
saves. Teacher and student are at the package's defaults (network sizes
included) but for ``max_epochs``; the table goes to
``benchmarks/results/speed.md`` (``speed_<device>.md`` on another device than
the CPU, ``speed_quick.md`` with ``--quick``).

Usage::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/speed.py
    python benchmarks/speed.py --device cuda   # on a GPU machine
    python benchmarks/speed.py --quick         # a fast smoke run
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from _common import (
    Timer,
    header,
    markdown_table,
    package_defaults,
    pin_threads,
    write_results,
)
from sklearn.frozen import FrozenEstimator
from skorch.dataset import Dataset as SkorchDataset
from torch.utils.data import DataLoader

from sklearn_subdistill import SubclassDistilledStudent, SubclassTeacherClassifier
from sklearn_subdistill._net import SubclassNet
from sklearn_subdistill._selection import auto_temperature
from sklearn_subdistill._teachers import split_class_log_proba
from sklearn_subdistill.modules import (
    MLP,
    SubclassDistillationLoss,
    SubclassHeadNetwork,
    SubclassTeacherLoss,
)

TEACHER = SubclassTeacherClassifier().get_params()
STUDENT = SubclassDistilledStudent().get_params()
N_CLASSES = 2


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


def teacher_module(n_features, n_subclasses):
    """The default teacher's module: a class MLP beside a subclass MLP."""
    return SubclassHeadNetwork(
        n_features,
        N_CLASSES * n_subclasses,
        N_CLASSES,
        body=MLP,
        body_params={"hidden_layer_sizes": TEACHER["hidden_layer_sizes"]},
        subclass_input="input",  # subclass_head="separate"
        subclass_temperature=TEACHER["subclass_temperature"],
        class_mass=TEACHER["class_mass"],
    )


def teacher_loss(n_subclasses):
    """The default teacher's loss on that module's two outputs."""
    return SubclassTeacherLoss(
        n_classes=N_CLASSES,
        aux_weight=TEACHER["aux_weight"],
        aux_temperature=TEACHER["aux_temperature"],
        aux_scope=TEACHER["aux_scope"],
        aux_loss=TEACHER["aux_loss"],
        aux_entropy_weight=TEACHER["aux_entropy_weight"],
        two_heads=True,
        n_subclasses=n_subclasses,
    )


def raw_fit(model, X, targets, criterion, args, seed):
    """The minimal loop: whole tensors on the device, shuffled index slices."""
    device = args.device
    model = model.to(device)
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


def raw_predict_proba(model, X, device, batch_size=8192):
    """Plain batched inference of the teacher's module: float32 batches in,
    its class network's probabilities out."""
    out = np.empty((len(X), N_CLASSES))
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(X), batch_size):
            batch = torch.from_numpy(X[start : start + batch_size]).to(device)
            log_p = model.class_log_proba(model(batch))
            out[start : start + batch_size] = log_p.exp().cpu().numpy()
    return out


def skorch_default_fit(X, y, n_subclasses, args, seed):
    """The teacher's net through skorch's default path: per-row Dataset +
    DataLoader."""
    net = SubclassNet(
        module=SubclassHeadNetwork,
        module__n_features=X.shape[1],
        module__n_outputs=N_CLASSES * n_subclasses,
        module__n_classes=N_CLASSES,
        module__body=MLP,
        module__body_params={"hidden_layer_sizes": TEACHER["hidden_layer_sizes"]},
        module__subclass_temperature=TEACHER["subclass_temperature"],
        module__class_mass=TEACHER["class_mass"],
        criterion=teacher_loss(n_subclasses),
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


def fit_table(times, rows):
    """Median seconds, rows/s and the median ratio to the raw loop."""
    body = []
    for name, raw in (
        ("teacher", "raw teacher"),
        ("student, fixed weight", "raw student"),
        ("student, default (auto)", "raw student"),
        ("skorch default", "raw teacher"),
    ):
        ratios = [a / b for a, b in zip(times[name], times[raw], strict=True)]
        med, ratio = statistics.median(times[name]), statistics.median(ratios)
        body.append([name, f"{med:.2f}", f"{rows / med:,.0f}", f"{ratio:.3f}"])
    for raw in ("raw teacher", "raw student"):
        med = statistics.median(times[raw])
        body.append([f"{raw} loop", f"{med:.2f}", f"{rows / med:,.0f}", "1"])
    return markdown_table(
        ["fit", "median s", "rows/s", "ratio to raw loop (median of pairs)"], body
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=STUDENT["batch_size"])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 pairs")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.pairs, args.predict_rows = 4000, 2, 2, 100_000
    threads = pin_threads(args.threads)
    timer = Timer()

    rng = np.random.RandomState(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    y = (X[:, :8].sum(1) + 0.5 * rng.standard_normal(args.rows) > 0).astype(np.int64)
    common = dict(
        max_epochs=args.epochs, batch_size=args.batch_size, device=args.device
    )
    s = TEACHER["n_subclasses"]
    # Warm-up (torch's first-use costs, about a second): neither side pays it.
    warm = SubclassTeacherClassifier(max_epochs=1, device=args.device).fit(
        X[:1024], y[:1024]
    )
    SubclassDistilledStudent(teacher=FrozenEstimator(warm), max_epochs=1,
                             device=args.device).fit(X[:1024], y[:1024])  # fmt: skip

    names = ("teacher", "raw teacher", "student, default (auto)",
             "student, fixed weight", "raw student", "skorch default")  # fmt: skip
    times = {k: [] for k in names}
    chosen = []
    fitted_teacher = None
    for pair in range(args.pairs):
        seed = pair
        t_est, fitted_teacher = timed(
            lambda seed=seed: SubclassTeacherClassifier(
                random_state=seed, **common
            ).fit(X, y)
        )

        def raw_teacher(seed=seed):
            torch.manual_seed(seed)
            model = teacher_module(X.shape[1], s)
            return raw_fit(model, X, [torch.as_tensor(y)], teacher_loss(s), args, seed)

        t_raw, _ = timed(raw_teacher)
        times["teacher"].append(t_est)
        times["raw teacher"].append(t_raw)

        frozen = FrozenEstimator(fitted_teacher)
        t_auto, student = timed(
            lambda seed=seed, frozen=frozen: SubclassDistilledStudent(
                teacher=frozen, random_state=seed, **common
            ).fit(X, y)
        )
        times["student, default (auto)"].append(t_auto)
        # The weight and class mass "auto" chose, at its temperature (the
        # paper's 4 for weight 1).
        weight, class_mass = student.subclass_weight_, student.class_mass_
        temperature = auto_temperature(weight) if weight else STUDENT["temperature"]
        chosen.append((weight, temperature, class_mass))
        t_est, _ = timed(
            lambda seed=seed, frozen=frozen, w=weight, t=temperature, m=class_mass: (
                SubclassDistilledStudent(
                    teacher=frozen, random_state=seed, subclass_weight=w,
                    temperature=t, class_mass=m, **common,
                ).fit(X, y)
            )
        )  # fmt: skip
        times["student, fixed weight"].append(t_est)

        def raw_student(seed=seed, teacher=fitted_teacher, weight=weight,
                        temperature=temperature, class_mass=class_mass):  # fmt: skip
            if weight == 0:  # conventional: one output per class
                logits, n_outputs = teacher.predict_log_proba(X), N_CLASSES
            else:
                logits, n_outputs = teacher.predict_subclass_log_proba(X), N_CLASSES * s
                if class_mass == "predict_proba":
                    logits = split_class_log_proba(teacher.predict_log_proba(X), logits)
            criterion = SubclassDistillationLoss(
                N_CLASSES, alpha=STUDENT["alpha"], temperature=temperature,
                subclass_weight=weight,
            )  # fmt: skip
            torch.manual_seed(seed)
            model = MLP(X.shape[1], n_outputs, STUDENT["hidden_layer_sizes"])
            logits = torch.as_tensor(logits, dtype=torch.float32)
            return raw_fit(
                model, X, [torch.as_tensor(y), logits], criterion, args, seed
            )

        t_raw, _ = timed(raw_student)
        times["raw student"].append(t_raw)
        t_default, _ = timed(lambda seed=seed: skorch_default_fit(X, y, s, args, seed))
        times["skorch default"].append(t_default)
        done = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
        print(f"pair {pair}: {done} [{timer():.0f} s]", flush=True)

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
            t, p_raw = timed(lambda: raw_predict_proba(model, X_big, args.device))
        pred_times["raw inference"].append(t)
        peaks["raw inference"] = max(peaks["raw inference"], mem.added)
    assert np.allclose(p_est, p_raw, atol=1e-6), "the two inference paths disagree"
    ratios = [
        a / b
        for a, b in zip(
            pred_times["predict_proba"], pred_times["raw inference"], strict=True
        )
    ]
    body = []
    for name in ("predict_proba", "raw inference"):
        med = statistics.median(pred_times[name])
        ratio = statistics.median(ratios) if name == "predict_proba" else 1.0
        body.append([name, f"{med:.2f}", f"{args.predict_rows / med:,.0f}",
                     f"{peaks[name] / 2**20:.0f}", f"{ratio:.3f}"])  # fmt: skip
    predict_table = markdown_table(
        [f"predict_proba, {args.predict_rows:,} x {args.features} (input "
         f"{X_big.nbytes / 2**20:.0f} MiB)", "median s", "rows/s",
         "peak RSS added (MiB)", "ratio"], body,
    )  # fmt: skip

    weights = sorted(
        {f"{w:g} at T={t:g}" + (f" ({m})" if w else "") for w, t, m in chosen}
    )
    description = f"""
{args.rows:,} x {args.features} float32 rows (two classes), {args.epochs} epochs,
batch {args.batch_size}, Adam (lr 1e-3), device {args.device}, {threads} torch
thread(s). Teacher: the package's default, `MLP{TEACHER["hidden_layer_sizes"]}`
class network beside a subclass network of the same architecture
({s} subclasses per class); the raw teacher loop trains the same
`SubclassHeadNetwork` with the same `SubclassTeacherLoss`. Students
(`MLP{STUDENT["hidden_layer_sizes"]}`) of the fitted teacher: the default
(`subclass_weight="auto"`: up to three candidates fitted on each of four
folds of the rows, then the refit), and the weight and class mass it chose at its
temperature, fixed (one fit;
chosen: {", ".join(weights)}), against the raw student loop with that loss.
Every ratio is to the raw loop of the same pair ("student, default (auto)"
to the raw loop of the fixed student: the cost of choosing). "skorch default"
is the teacher's net through skorch's per-row `Dataset` + `DataLoader` path,
against the raw teacher loop. Fits: median of {args.pairs} alternated pairs.
Inference: {args.pairs} alternated pairs on {args.predict_rows:,} rows (the
teacher's `predict_proba`, both networks run, against the same module in
plain batches of 8192 rows); peak RSS added over the input, sampled every
2 ms.
"""
    parts = [
        header(
            "Speed against a raw torch loop", description, timer(), package_defaults()
        ),
        fit_table(times, args.rows * args.epochs),
        "",
        predict_table,
    ]
    if args.device.startswith("cuda"):
        parts += ["", "CUDA peak allocated: "
                  f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"]  # fmt: skip
    name = "speed" if args.device == "cpu" else f"speed_{args.device.replace(':', '')}"
    write_results(name, "\n".join(parts), quick=args.quick)


if __name__ == "__main__":
    main()
