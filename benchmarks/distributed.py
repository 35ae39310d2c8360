"""Data-parallel training: seconds per epoch of the teacher with 1, 2, ... processes.

The script launches itself with ``torchrun`` once per process count, each
process fits the same ``SubclassTeacherClassifier`` (the package's defaults
but for the network, ``batch_size`` and ``max_epochs``: a class network and a
subclass network, the contrastive loss over the whole gathered batch) on the
same synthetic data with the same *global* ``batch_size``, and rank 0 reports
the epoch times skorch recorded (the first epoch, with its warm-up, is left
out). The table goes to ``benchmarks/results/distributed.md`` (``--output``
for another device or machine).

Usage::

    # CPU, gloo, one torch thread per process (this project's 2-core machine)
    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/distributed.py --repeats 2

    # one node with 4 GPUs, NCCL, one process per GPU
    python benchmarks/distributed.py --device cuda --nprocs 1 2 4 --rows 2000000

The worker part runs under ``torchrun`` directly as well (it is what the
launcher starts), e.g. on two nodes::

    torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d \\
        --rdzv_endpoint HOST:29400 --rdzv_id bench \\
        benchmarks/distributed.py --worker --device cuda --out result.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MACHINE, RESULTS, Timer, header, markdown_table, package_defaults


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=1024, help="global")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads/process")
    parser.add_argument("--repeats", type=int, default=1, help="launches per count")
    parser.add_argument("--output", default=str(RESULTS / "distributed.md"))
    parser.add_argument(
        "--machine", default=MACHINE, help="the machine, in words, for the header"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args):
    """One process: join the group, fit, and (rank 0) write the epoch times."""
    import torch.distributed as dist

    from sklearn_subdistill import SubclassTeacherClassifier

    torch.set_num_threads(args.threads)
    device = args.device
    if device.startswith("cuda"):
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rng = np.random.RandomState(0)
    X = rng.standard_normal((args.rows, args.features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    teacher = SubclassTeacherClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        device=device,
        random_state=0,
    )
    start = time.perf_counter()
    teacher.fit(X, y)
    total = time.perf_counter() - start
    if dist.get_rank() == 0:
        result = {
            "world_size": dist.get_world_size(),
            "backend": dist.get_backend(),
            "epochs": [float(d) for d in teacher.history_[:, "dur"]],
            "fit": total,
            "train_loss": float(teacher.history_[-1, "train_loss"]),
            "n_subclasses": int(teacher.n_subclasses_),
            "torch": torch.__version__,
            "device": (
                torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
            ),
        }
        Path(args.out).write_text(json.dumps(result))
    dist.barrier()  # results on disk before the group goes away
    dist.destroy_process_group()


def launch(args, nprocs, out):
    """``torchrun --standalone --nproc_per_node nprocs`` of this script's worker."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nprocs}",
        __file__,
        "--worker",
        f"--out={out}",
        f"--device={args.device}",
        f"--rows={args.rows}",
        f"--features={args.features}",
        f"--batch-size={args.batch_size}",
        f"--epochs={args.epochs}",
        f"--threads={args.threads}",
        "--hidden",
        *map(str, args.hidden),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if not Path(out).exists():  # judged by the result, not the exit status
        sys.exit(f"torchrun with {nprocs} processes failed:\n{proc.stderr[-3000:]}")
    return json.loads(Path(out).read_text())


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    timer = Timer()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nprocs in args.nprocs:
            for repeat in range(args.repeats):
                result = launch(args, nprocs, Path(tmp) / f"{nprocs}_{repeat}.json")
                epoch = statistics.median(result["epochs"][1:] or result["epochs"])
                rows.append((nprocs, repeat, epoch, result))
                print(
                    f"{nprocs} process(es): {epoch:.2f} s/epoch, "
                    f"{args.rows / epoch:,.0f} rows/s, "
                    f"train_loss {result['train_loss']:.4f}",
                    flush=True,
                )
    base = statistics.median(r[2] for r in rows if r[0] == rows[0][0])
    first = rows[0][3]
    from sklearn_subdistill import SubclassTeacherClassifier

    defaults = SubclassTeacherClassifier().get_params()
    description = (
        f"Teacher: MLP{tuple(args.hidden)} class network and a subclass network "
        f"of the same architecture ({first['n_subclasses']} subclasses per class), "
        f"otherwise the package's defaults: subclass_head="
        f"{defaults['subclass_head']!r}, aux_loss={defaults['aux_loss']!r} "
        f"(aux_scope={defaults['aux_scope']!r}: over the whole gathered batch); "
        f"{args.rows:,} x {args.features} float32 rows, global "
        f"batch_size={args.batch_size}, {args.epochs} epochs; the median epoch "
        "after the first (skorch's `dur`). Speed-up: the first process count's "
        "median epoch over each launch's."
    )
    settings = {
        **package_defaults(),
        "Run on": f"{args.machine}; device {first['device']}; torch "
        f"{first['torch']} in the workers, backend {first['backend']}, "
        f"{args.threads} torch thread(s) per process",
    }
    table = markdown_table(
        ["processes", "launch", "s / epoch", "rows / s", "speed-up",
         "final train_loss"],
        [[nprocs, repeat + 1, f"{epoch:.2f}", f"{args.rows / epoch:,.0f}",
          f"{base / epoch:.2f}x", f"{result['train_loss']:.4f}"]
         for nprocs, repeat, epoch, result in rows],
        align=["r"] * 6,
    )  # fmt: skip
    markdown = header(
        "Data-parallel training: one teacher epoch with N processes",
        description,
        timer(),
        settings,
    )
    Path(args.output).write_text(markdown + "\n" + table + "\n", encoding="utf-8")
    print(markdown + "\n" + table)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
