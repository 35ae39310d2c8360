"""Data-parallel training: 2 gloo processes on the CPU against one process.

The two processes run ``tests/distributed_worker.py`` (what ``torchrun``
would start, with the same environment variables) and write their results
to files before leaving the process group. A process may still die at
interpreter exit with "terminate called without an active exception" (a gloo
flake seen with torch 2.13 here, about one launch in six); that exit alone is
tolerated when its results were written in full. Any other failure, or a
missing result, fails the test with the processes' output.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_subdistill import _distributed
from sklearn_subdistill._net import BatchIterator
from sklearn_subdistill._torch_datasets import ArrayDataset

from .distributed_worker import AUX_LOSSES, SCENARIOS, aux_batch, make_data, results

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch without torch.distributed"
)

WORKER = Path(__file__).with_name("distributed_worker.py")
EXIT_FLAKE = "terminate called without an active exception"
WORLD_SIZE = 2


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The results of each of 2 processes, as ``{rank: dict of arrays}``."""
    out = tmp_path_factory.mktemp("distributed")
    env = dict(
        os.environ,
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        WORLD_SIZE=str(WORLD_SIZE),
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(
            [str(WORKER.parent.parent), os.environ.get("PYTHONPATH", "")]
        ),
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(out)],
            env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD_SIZE)
    ]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("the 2-process fit did not finish in 240 s")
    paths = [out / f"rank{rank}.npz" for rank in range(WORLD_SIZE)]
    ranks = list(zip(procs, outputs, paths, strict=True))
    if not all(
        path.exists() and (proc.returncode == 0 or EXIT_FLAKE in output)
        for proc, output, path in ranks
    ):
        # Every rank's output: the first error may be on a rank that did not
        # fail first (its peers then lose their connection).
        pytest.fail(
            "\n".join(
                f"rank {rank} exited with {proc.returncode}, results "
                f"{'written' if path.exists() else 'missing'}:\n{output[-3000:]}"
                for rank, (proc, output, path) in enumerate(ranks)
            )
        )
    found = {}
    for rank, path in enumerate(paths):
        with np.load(path) as data:
            found[rank] = dict(data)
    return found


@pytest.fixture(scope="module")
def one_process():
    """The same scenarios fitted in this process, outside any process group."""
    torch.set_num_threads(1)
    X, y = make_data()
    return {name: results(fit(X, y)) for name, fit in SCENARIOS.items()}


#: The most optimizer steps of any scenario: 8 epochs of 6 batches
#: (the early-stopping teachers; a student and its teacher take 5 of 8).
STEPS = 48
#: The longest sum that 2 processes split and 1 process does not: a global
#: batch's 33 rows, in each gradient and in the gathered auxiliary losses.
ROWS = 33
#: An allowance, chosen and not measured, for training magnifying a rounding
#: difference: Adam divides each gradient by the root of its running mean
#: square, so a gradient that nearly cancels turns a difference in its last
#: bits into a larger step, and every later step starts from those weights.
AMPLIFICATION = 100


def _precision(scenario):
    """The precision a scenario trains in (see ``distributed_worker.SMALL``)."""
    for precision in ("fp32", "bf16"):
        if scenario.endswith(f"_{precision}"):
            return precision
    return "fp64"


def _tolerance(scenario, key):
    """How close 2 processes come to 1: rounding, except under autocast."""
    precision = _precision(scenario)
    if precision != "bf16":
        # The 2 processes sum each batch's rows in two parts, then add the
        # parts; 1 process sums them in one. Summing n terms in another order
        # changes the sum by at most about n * eps times the sum of their
        # magnitudes; each of STEPS steps adds such a difference, which
        # AMPLIFICATION allows training to magnify. In float64 (eps 2.2e-16)
        # that is 3.5e-11: the strict check, of weights, losses and epochs. In
        # float32 (eps 1.2e-7) it is 1.9e-2, about two Adam steps of lr=1e-2:
        # a loose check that float32 training takes the same path.
        dtype = np.float32 if precision == "fp32" else np.float64
        tol = float(np.finfo(dtype).eps) * ROWS * STEPS * AMPLIFICATION
        return dict(rtol=tol, atol=tol)
    # bfloat16 rounds each share's matrix products on its own; Adam then
    # amplifies the differences for parameters with small gradients. Seen:
    # 0.024 in a weight of the subclass network, 5e-5 in the loss.
    return dict(rtol=0, atol=1e-3 if key.endswith("loss") else 0.1)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_two_processes_train_the_one_process_model(
    scenario, two_processes, one_process
):
    expected = one_process[scenario]
    for key, value in expected.items():
        rank0 = two_processes[0][f"{scenario}/{key}"]
        rank1 = two_processes[1][f"{scenario}/{key}"]
        # Every process ends with the same weights and history, bit for bit.
        np.testing.assert_array_equal(rank0, rank1, err_msg=key)
        # ... those of one process with the same global batch.
        np.testing.assert_allclose(
            rank0, value, err_msg=key, **_tolerance(scenario, key)
        )
        if key.startswith("weights/"):
            dtype = np.float64 if _precision(scenario) == "fp64" else np.float32
            assert rank0.dtype == value.dtype == dtype, key


@pytest.mark.parametrize("loss", list(AUX_LOSSES))
def test_auxiliary_loss_is_that_of_the_global_batch(loss, two_processes):
    logits, y, weight = aux_batch()
    logits.requires_grad_()
    full = AUX_LOSSES[loss](logits, (y, weight))
    full.backward()
    rows = [slice(0, 17), slice(17, 33)]  # the shares of the 2 processes
    for rank in range(WORLD_SIZE):
        found = {
            key: two_processes[rank][f"aux/{loss}/{key}"]
            for key in ("global", "local", "grad")
        }
        np.testing.assert_allclose(found["global"], full.item(), rtol=1e-6)
        # A process's own rows alone give another loss: the gather is real
        # (for "within", of the labels and weights too).
        assert abs(found["local"] - full.item()) > 1e-3
        # Each process gets world_size times its rows' gradient; averaging
        # by DistributedDataParallel brings it back to one process's.
        np.testing.assert_allclose(
            found["grad"],
            WORLD_SIZE * logits.grad[rows[rank]].numpy(),
            rtol=1e-5,
            atol=1e-7,
        )


def test_different_data_on_the_processes_is_refused(two_processes):
    # Rank 1 passed 200 rows, rank 0 240: without the check, the processes
    # would wait on each other's collectives forever. Both raise.
    for rank in range(WORLD_SIZE):
        message = str(two_processes[rank]["different_data_error"])
        assert "passed different data" in message
        assert "rank 0: 240 rows" in message and "rank 1: 200 rows" in message


@pytest.mark.parametrize("n_rows", [0, 1, 2, 7, 33])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_shards_are_disjoint_and_cover_the_batch(monkeypatch, n_rows, world_size):
    order = torch.randperm(n_rows)
    parts, slices = [], []
    for rank in range(world_size):
        monkeypatch.setattr(_distributed, "world", lambda r=rank: (r, world_size))
        parts.append(_distributed.shard(order))
        slices.append(_distributed.shard(slice(5, 5 + n_rows)))
    torch.testing.assert_close(torch.cat(parts), order)
    assert [s.start for s in slices[1:]] == [s.stop for s in slices[:-1]]
    assert (slices[0].start, slices[-1].stop) == (5, 5 + n_rows)
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1


def test_prediction_batches_are_never_sharded(monkeypatch):
    # Prediction is per process: only training iterators take a share.
    monkeypatch.setattr(_distributed, "world", lambda: (1, 2))
    data = ArrayDataset(torch.arange(10.0).reshape(10, 1))
    whole = [len(X) for X, _ in BatchIterator(data, batch_size=4)]
    shared = [len(X) for X, _ in BatchIterator(data, batch_size=4, distributed=True)]
    assert (whole, shared) == ([4, 4, 2], [2, 2, 1])


def test_outside_a_process_group_nothing_changes():
    assert _distributed.world() == (0, 1)
    assert _distributed.is_main_process()
    assert _distributed.agree_on_seed(123) == 123
    index = torch.arange(5)
    assert _distributed.shard(index) is index
