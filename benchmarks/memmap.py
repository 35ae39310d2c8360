"""Train and predict on a memory-mapped array larger than the memory allowed.

Writes a float32 ``np.memmap`` of ``--rows`` x ``--features`` to ``--path``,
opens it read-only and fits a teacher and predicts on it, printing the peak
anonymous memory (the process's own memory, page cache excluded) next to the
file's size. The estimators share the mapped file with torch instead of
copying it, so only the pages a batch touches are read.

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
    args = parser.parse_args()

    y = write_memmap(args.path, args.rows, args.features)
    X = np.load(args.path, mmap_mode="r")  # read-only memory map
    size = os.path.getsize(args.path)
    limit = cgroup_limit()
    print(
        f"memmap {args.rows:,} x {args.features} float32: {size / 2**30:.2f} GiB on "
        f"disk; memory cgroup limit: "
        f"{'none' if limit is None else f'{limit / 2**30:.2f} GiB'}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
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
        ).fit(X, y)
        fit_s = time.perf_counter() - start
    with PeakAnon() as predict_mem:
        start = time.perf_counter()
        proba = teacher.predict_proba(X)
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


if __name__ == "__main__":
    main()
