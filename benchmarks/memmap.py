"""Train and predict on a memory-mapped array larger than the memory allowed.

Writes a float32 ``np.memmap`` of ``--rows`` x ``--features`` to ``--path``
(and the labels beside it), opens it read-only and fits a teacher (the
package's defaults but for a small network, ``MLP(64)`` twice: class and
subclass network, ``batch_size`` and ``lr``) and predicts on it, recording the
peak anonymous memory (the process's own memory, page cache excluded) next
to the file's size, in ``benchmarks/results/memmap.md``
(``memmap_<rows>.md`` for other ``--rows``). ``--input`` picks how the file
reaches the estimator (by default each of the three in turn):

``array``
    the memory-mapped array itself; the estimators share the mapped file with
    torch instead of copying it, so only the pages a batch touches are read;
``batches``
    an iterable of ``(X_batch, y_batch)`` slices of the file, in a new random
    order of slices every pass (:class:`ShuffledSlices`);
``dataset``
    a map-style torch ``Dataset`` over the file, read by index (random rows:
    a page per row, slow once the file exceeds the memory).

To show it under a hard limit, run it in a memory cgroup smaller than the
file (Linux, root, cgroup v1 shown; the limit counts page cache too, which
the kernel evicts as needed)::

    mkdir /sys/fs/cgroup/memory/subdistill
    echo 1G > /sys/fs/cgroup/memory/subdistill/memory.limit_in_bytes
    sh -c 'echo $$ > /sys/fs/cgroup/memory/subdistill/cgroup.procs;
           exec python benchmarks/memmap.py --rows 12000000'

Without a cgroup (the results file records the limit, or none) the file
stays in the page cache if it fits, and the anonymous memory still shows
what a fit keeps of its own::

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/memmap.py
"""

import argparse
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from _common import Timer, header, markdown_table, package_defaults, write_results
from torch.utils.data import Dataset

from sklearn_subdistill import SubclassTeacherClassifier

DEFAULT_ROWS = 4_000_000


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class PeakAnon:
    """Peak anonymous resident memory (KiB) while the block runs, sampled."""

    def __enter__(self):
        self.peak = status_kib("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, status_kib("RssAnon"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cgroup_limit():
    try:
        with open("/proc/self/cgroup") as f:
            path = next(line.split(":")[2].strip() for line in f if ":memory:" in line)
        with open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes") as f:
            limit = int(f.read())
        return limit if limit < 2**60 else None
    except (OSError, StopIteration, ValueError):
        return None


class ShuffledSlices:
    """``(X[a:b], y[a:b])`` slices of ``size`` rows, in a new random order each pass."""

    def __init__(self, X, y=None, size=512, seed=0):
        self.X, self.y, self.size = X, y, size
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        starts = np.arange(0, len(self.X), self.size)
        if self.y is not None:  # training: shuffle; prediction: keep the order
            self.rng.shuffle(starts)
        for start in starts:
            rows = slice(start, start + self.size)
            yield self.X[rows] if self.y is None else (self.X[rows], self.y[rows])


class MappedRows(Dataset):
    """Rows of a memory-mapped file, ``(x, y)``; ``__getitems__`` reads a batch."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]

    def __getitems__(self, indices):
        # Read the rows in file order, return them in the order asked for.
        indices = np.asarray(indices)
        order = np.argsort(indices)
        X, y = np.empty((len(indices), self.X.shape[1]), self.X.dtype), self.y[indices]
        X[order] = self.X[indices[order]]
        return list(zip(X, y, strict=True))


def write_memmap(path, rows, features, chunk=500_000):
    X = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(rows, features)
    )
    rng = np.random.RandomState(0)
    w = rng.standard_normal(features).astype(np.float32)
    y = np.empty(rows, dtype=np.int64)
    for start in range(0, rows, chunk):
        block = rng.standard_normal((min(chunk, rows - start), features))
        X[start : start + len(block)] = block
        y[start : start + len(block)] = (block @ w > 0).astype(np.int64)
    X.flush()
    del X
    return y


def run(path, y_path, kind, args):
    """Fit and predict with one kind of input; returns the measurements. Run
    in a fresh process for each input, so that none starts from another's
    memory."""
    torch.set_num_threads(args.threads)
    X = np.load(path, mmap_mode="r")  # read-only memory maps
    y = np.load(y_path, mmap_mode="r")
    train, test = {
        "array": (lambda: (X, y), lambda: X),
        "batches": (
            lambda: (ShuffledSlices(X, y, args.batch_size), None),
            lambda: ShuffledSlices(X, size=8192),
        ),
        "dataset": (lambda: (MappedRows(X, y), None), lambda: MappedRows(X, y)),
    }[kind]
    base = status_kib("RssAnon")
    with PeakAnon() as fit_mem:
        start = time.perf_counter()
        teacher = SubclassTeacherClassifier(
            hidden_layer_sizes=(64,),
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            lr=3e-3,
            device="cpu",
            random_state=0,
        ).fit(*train())
        fit_s = time.perf_counter() - start
    with PeakAnon() as predict_mem:
        start = time.perf_counter()
        proba = teacher.predict_proba(test())
        predict_s = time.perf_counter() - start
    result = {
        "input": kind,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "accuracy": float(np.mean(teacher.classes_[proba.argmax(1)] == y)),
        "base_mib": base / 2**10,
        "fit_mib": fit_mem.peak / 2**10,
        "predict_mib": predict_mem.peak / 2**10,
        "output_mib": proba.nbytes / 2**20,
    }
    print(
        f"input {kind}: fit {fit_s:.0f} s ({args.rows * args.epochs / fit_s:,.0f} "
        f"rows/s), predict_proba {predict_s:.1f} s, training accuracy "
        f"{result['accuracy']:.4f}; anonymous memory before fit "
        f"{result['base_mib']:.0f} MiB, peak during fit {result['fit_mib']:.0f} "
        f"MiB, during predict_proba {result['predict_mib']:.0f} MiB (the output "
        f"alone is {result['output_mib']:.0f} MiB)",
        flush=True,
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--path", default="/tmp/subdistill_memmap.npy")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--input",
        nargs="+",
        choices=["array", "batches", "dataset"],
        default=["array", "batches", "dataset"],
    )
    args = parser.parse_args(argv)
    timer = Timer()

    y_path = args.path.replace(".npy", "_y.npy")
    np.save(y_path, write_memmap(args.path, args.rows, args.features))
    size = os.path.getsize(args.path)
    limit = cgroup_limit()
    limit_text = "none" if limit is None else f"{limit / 2**30:.2f} GiB"
    print(
        f"memmap {args.rows:,} x {args.features} float32: {size / 2**30:.2f} GiB on "
        f"disk; memory cgroup limit: {limit_text}; torch {torch.__version__}, "
        f"{args.threads} torch thread(s)",
        flush=True,
    )
    try:
        results = []
        for kind in args.input:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                results.append(pool.submit(run, args.path, y_path, kind, args).result())
    finally:
        os.remove(args.path)
        os.remove(y_path)
    labels = {
        "array": "memory-mapped array",
        "batches": "iterable of batches",
        "dataset": "map-style Dataset",
    }
    table = markdown_table(
        ["input", "fit (s)", "fit rows/s", "predict_proba (s)", "training accuracy",
         "anon. MiB before fit", "peak MiB, fit", "peak MiB, predict_proba"],
        [[labels[r["input"]], f"{r['fit_s']:.0f}",
          f"{args.rows * args.epochs / r['fit_s']:,.0f}", f"{r['predict_s']:.1f}",
          f"{r['accuracy']:.4f}", f"{r['base_mib']:.0f}", f"{r['fit_mib']:.0f}",
          f"{r['predict_mib']:.0f}"] for r in results],
    )  # fmt: skip
    description = f"""
A {args.rows:,} x {args.features} float32 file ({size / 2**30:.2f} GiB on
disk) opened read-only with `np.load(..., mmap_mode="r")`; labels from a
random linear rule. Teacher: the package's defaults but for the network
(`hidden_layer_sizes=(64,)`, so a class `MLP(64)` and a subclass `MLP(64)`),
`batch_size={args.batch_size}`, `lr=3e-3`, {args.epochs} epoch(s), on the CPU
({args.threads} torch thread(s)); each input in a fresh process.
Inputs: the memory-mapped array itself; `ShuffledSlices` (an iterable of
{args.batch_size}-row slices in a new random order each pass; prediction in
slices of 8192 rows); `MappedRows` (a map-style `Dataset` over the file with a
`__getitems__`). Memory: the process's anonymous resident memory
(`RssAnon`: page cache excluded), sampled every 10 ms; the output of
`predict_proba` alone is {results[0]["output_mib"]:.0f} MiB. Memory cgroup
limit: {limit_text}{
        ""
        if limit is not None
        else " (the file stays in the page cache, so reading costs no disk time; the"
        " anonymous memory is what a fit keeps of its own, which a cgroup smaller"
        " than the file would have to hold)"
    }.
"""
    settings = {**package_defaults(), "Memory cgroup limit": limit_text}
    name = "memmap" if args.rows == DEFAULT_ROWS else f"memmap_{args.rows}"
    write_results(
        name, header("Memory-mapped data: array, iterable of batches, Dataset",
                     description, timer(), settings) + "\n" + table,
    )  # fmt: skip


if __name__ == "__main__":
    main()
