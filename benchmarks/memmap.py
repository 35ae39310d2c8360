"""Train and predict on a memory-mapped array larger than the memory allowed.

Writes a float32 ``np.memmap`` of ``--rows`` x ``--features`` to ``--path``
(and the labels beside it), opens it read-only and fits a teacher and predicts
on it, printing the peak anonymous memory (the process's own memory, page
cache excluded) next to the file's size. ``--input`` picks how the file
reaches the estimator:

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
"""

import argparse
import os
import threading
import time

import numpy as np
import torch
from torch.utils.data import Dataset

from sklearn_subdistill import SubclassTeacherClassifier


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--path", default="/tmp/subdistill_memmap.npy")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument(
        "--input", choices=["array", "batches", "dataset"], default="array"
    )
    args = parser.parse_args()

    y_path = args.path.replace(".npy", "_y.npy")
    np.save(y_path, write_memmap(args.path, args.rows, args.features))
    X = np.load(args.path, mmap_mode="r")  # read-only memory maps
    y = np.load(y_path, mmap_mode="r")
    train, test = {
        "array": (lambda: (X, y), lambda: X),
        "batches": (
            lambda: (ShuffledSlices(X, y, args.batch_size), None),
            lambda: ShuffledSlices(X, size=8192),
        ),
        "dataset": (lambda: (MappedRows(X, y), None), lambda: MappedRows(X, y)),
    }[args.input]
    size = os.path.getsize(args.path)
    limit = cgroup_limit()
    print(
        f"memmap {args.rows:,} x {args.features} float32: {size / 2**30:.2f} GiB on "
        f"disk; memory cgroup limit: "
        f"{'none' if limit is None else f'{limit / 2**30:.2f} GiB'}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"input: {args.input}"
    )
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
    accuracy = np.mean(teacher.classes_[proba.argmax(1)] == y)
    print(f"fit: {fit_s:.0f} s ({args.rows * args.epochs / fit_s:,.0f} rows/s)")
    print(f"predict_proba: {predict_s:.0f} s ({args.rows / predict_s:,.0f} rows/s)")
    print(f"training accuracy: {accuracy:.4f}")
    print(
        f"anonymous memory before fit {base / 2**10:.0f} MiB; peak during fit "
        f"{fit_mem.peak / 2**10:.0f} MiB; peak during predict_proba "
        f"{predict_mem.peak / 2**10:.0f} MiB (the output alone is "
        f"{proba.nbytes / 2**20:.0f} MiB)"
    )
    os.remove(args.path)
    os.remove(y_path)


if __name__ == "__main__":
    main()
