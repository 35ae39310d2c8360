"""Property-based tests of the loss functions (hypothesis)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import softmax

from sklearn_subdistill.losses import (
    class_logits,
    distillation_loss,
    subclass_auxiliary_loss,
)

SETTINGS = settings(max_examples=50, deadline=None)
EPS = 1e-9
FLOATS = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False, width=64)
TEMPERATURES = st.floats(0.1, 10.0, allow_nan=False, allow_infinity=False)


# Tiny tensors: one intra-op thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@st.composite
def subclass_logits(draw, max_n=8, max_c=4, max_s=4, min_k=1, fill=None):
    """A float64 array of shape (N, C * s) and its number of classes C.

    ``fill=st.nothing()`` draws every entry independently, which makes rows
    with (nearly) constant entries rare.
    """
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    s = draw(st.integers(1, max_s))
    assume(c * s >= min_k)
    z = draw(arrays(np.float64, (n, c * s), elements=FLOATS, fill=fill))
    return z, c


@st.composite
def logit_pairs(draw, max_n=8, max_k=10):
    """Two float64 arrays of the same shape (N, K): student and teacher."""
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, max_k))
    student = draw(arrays(np.float64, (n, k), elements=FLOATS))
    teacher = draw(arrays(np.float64, (n, k), elements=FLOATS))
    return student, teacher


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


# --------------------------------------------------------------------------
# class_logits
# --------------------------------------------------------------------------
@SETTINGS
@given(subclass_logits())
def test_class_probabilities_sum_to_one(data):
    z, c = data
    probs = class_logits(_t(z), c).softmax(dim=1).numpy()
    assert probs.shape == (z.shape[0], c)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # ... and are the block sums of the subclass probabilities.
    block_sums = softmax(z, axis=1).reshape(z.shape[0], c, -1).sum(axis=2)
    np.testing.assert_allclose(probs, block_sums, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(subclass_logits(), st.randoms(use_true_random=False))
def test_class_logits_permutation_equivariance(data, rnd):
    z, c = data
    s = z.shape[1] // c
    # Permuting the subclasses inside each block leaves the class logits alone.
    within = np.concatenate(
        [b * s + np.array(rnd.sample(range(s), s)) for b in range(c)]
    )
    base = class_logits(_t(z), c).numpy()
    np.testing.assert_allclose(
        class_logits(_t(z[:, within]), c).numpy(), base, rtol=1e-12, atol=1e-12
    )
    # Permuting whole blocks permutes the class logits the same way.
    blocks = rnd.sample(range(c), c)
    across = np.concatenate([np.arange(b * s, (b + 1) * s) for b in blocks])
    np.testing.assert_allclose(
        class_logits(_t(z[:, across]), c).numpy(),
        base[:, blocks],
        rtol=1e-12,
        atol=1e-12,
    )


@SETTINGS
@given(subclass_logits())
def test_class_logits_bounded_by_block_max(data):
    # max(block) <= logsumexp(block) <= max(block) + log(s).
    z, c = data
    n, k = z.shape
    s = k // c
    out = class_logits(_t(z), c).numpy()
    block_max = z.reshape(n, c, s).max(axis=2)
    assert np.all(out >= block_max - 1e-12)
    assert np.all(out <= block_max + math.log(s) + 1e-12)


# --------------------------------------------------------------------------
# subclass_auxiliary_loss
# --------------------------------------------------------------------------
@SETTINGS
@given(subclass_logits(min_k=2, fill=st.nothing()), st.floats(0.25, 4.0))
def test_aux_loss_within_bounds(data, temperature):
    z, _ = data
    # Rows with a non-negligible spread, where the 1e-9 eps of the
    # standardisation moves the value by at most 1e-6 / T.
    assume(z.var(axis=1).min() >= 1e-3)
    n = z.shape[0]
    value = float(subclass_auxiliary_loss(_t(z), temperature))
    assert -math.log(n) - 1e-5 <= value <= 1e-5


@SETTINGS
@given(subclass_logits(), TEMPERATURES)
def test_aux_loss_exact_bounds_for_any_rows(data, temperature):
    # For any rows (constant ones and K = 1 included): the Gram diagonal is
    # r_n / T with r_n = var_n / (var_n + eps) and every entry is at most
    # 1 / T, so -log N - mean_n(1 - r_n) / T <= L <= 0.
    z, _ = data
    n = z.shape[0]
    var = z.var(axis=1)
    slack = float(np.mean(1.0 - var / (var + EPS))) / temperature
    value = float(subclass_auxiliary_loss(_t(z), temperature))
    assert -math.log(n) - slack - 1e-9 <= value <= 1e-9


@SETTINGS
@given(subclass_logits(min_k=2), st.randoms(use_true_random=False))
def test_aux_loss_invariant_to_batch_and_column_permutations(data, rnd):
    z, _ = data
    n, k = z.shape
    base = float(subclass_auxiliary_loss(_t(z), 0.5))
    rows = rnd.sample(range(n), n)
    cols = rnd.sample(range(k), k)
    assert math.isclose(
        float(subclass_auxiliary_loss(_t(z[rows]), 0.5)), base, abs_tol=1e-9
    )
    assert math.isclose(
        float(subclass_auxiliary_loss(_t(z[:, cols]), 0.5)), base, abs_tol=1e-9
    )


@SETTINGS
@given(
    subclass_logits(min_k=2, fill=st.nothing()),
    arrays(np.float64, (8, 1), elements=st.floats(0.5, 5.0)),
    arrays(np.float64, (8, 1), elements=st.floats(-50.0, 50.0)),
)
def test_aux_loss_invariant_to_per_row_affine_maps(data, scale, shift):
    z, _ = data
    n = z.shape[0]
    assume(z.var(axis=1).min() >= 1e-2)
    a = float(subclass_auxiliary_loss(_t(z), 1.0))
    b = float(subclass_auxiliary_loss(_t(z * scale[:n] + shift[:n]), 1.0))
    assert math.isclose(a, b, abs_tol=1e-6)


# --------------------------------------------------------------------------
# distillation_loss
# --------------------------------------------------------------------------
@SETTINGS
@given(logit_pairs(), TEMPERATURES)
def test_distillation_loss_minimal_at_student_equal_teacher(pair, temperature):
    student, teacher = pair
    at_teacher = distillation_loss(
        _t(teacher), _t(teacher), temperature, reduction="none"
    ).numpy()
    # The minimum is T^2 times the entropy of the softened teacher.
    p = softmax(teacher / temperature, axis=1)
    entropy = -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=1)
    np.testing.assert_allclose(
        at_teacher, temperature**2 * entropy, rtol=1e-9, atol=1e-9
    )
    value = distillation_loss(
        _t(student), _t(teacher), temperature, reduction="none"
    ).numpy()
    assert np.all(value >= at_teacher - 1e-9 * (1.0 + np.abs(at_teacher)))


@SETTINGS
@given(
    logit_pairs(),
    TEMPERATURES,
    arrays(np.float64, (8, 1), elements=st.floats(-50.0, 50.0)),
)
def test_distillation_loss_invariant_to_per_row_constants(pair, temperature, shift):
    student, teacher = pair
    shift = shift[: student.shape[0]]
    base = distillation_loss(
        _t(student), _t(teacher), temperature, reduction="none"
    ).numpy()
    for s, t in ((student + shift, teacher), (student, teacher + shift)):
        shifted = distillation_loss(_t(s), _t(t), temperature, reduction="none")
        np.testing.assert_allclose(shifted.numpy(), base, rtol=1e-9, atol=1e-9)
