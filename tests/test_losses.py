"""Loss functions against independent float64 NumPy/SciPy references.

The reference implementations below are written straight from the formulas of
``METHOD.md``; they never call the torch code under test.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, logsumexp, softmax

from sklearn_subdistill.losses import (
    class_logits,
    distillation_loss,
    subclass_auxiliary_loss,
    subclass_distillation_loss,
    subclass_information_loss,
    within_class_auxiliary_loss,
)

EPS = 1e-9
N_SAMPLES = [1, 2, 7, 64]
N_CLASSES = [1, 2, 3]
N_SUBCLASSES = [1, 2, 5]
TEMPERATURES = [0.1, 0.5, 1.0, 4.0]
SHAPES = list(itertools.product(N_SAMPLES, N_CLASSES, N_SUBCLASSES))


# Tiny tensors: one intra-op thread (see conftest.one_torch_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------
# Independent references (float64 NumPy / SciPy)
# --------------------------------------------------------------------------
def ref_class_logits(z, n_classes):
    n, k = z.shape
    return logsumexp(z.reshape(n, n_classes, k // n_classes), axis=2)


def ref_aux_loss(z, temperature):
    n, k = z.shape
    mean = z.mean(axis=1, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=1, keepdims=True)  # population variance
    zn = (z - mean) / np.sqrt(var + EPS)
    zn = zn / np.sqrt(temperature * k)
    gram = zn @ zn.T
    return logsumexp(gram, axis=1).mean() - 1.0 / temperature - np.log(n)


def ref_distillation_per_example(student, teacher, temperature):
    p = softmax(teacher / temperature, axis=1)
    log_q = log_softmax(student / temperature, axis=1)
    return -(p * log_q).sum(axis=1) * temperature**2


def _logits(seed, n, k, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(n, k))


def _t(a, requires_grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


# --------------------------------------------------------------------------
# class_logits
# --------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "c", "s"), SHAPES)
def test_class_logits_matches_reference(n, c, s):
    z = _logits(n * 100 + c * 10 + s, n, c * s)
    out = class_logits(_t(z), c)
    assert out.shape == (n, c)
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), ref_class_logits(z, c), rtol=1e-12)


def test_class_logits_float32_matches_reference():
    z = _logits(0, 16, 6)
    out = class_logits(torch.tensor(z, dtype=torch.float32), 3)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref_class_logits(z, 3), rtol=1e-5)


def test_class_logits_hand_value():
    # Two classes of two subclasses with probabilities 0.1, 0.2 | 0.3, 0.4.
    z = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64))
    out = class_logits(z, 2)
    np.testing.assert_allclose(out.numpy(), np.log([[0.3, 0.7]]), rtol=1e-12)
    np.testing.assert_allclose(out.softmax(1).numpy(), [[0.3, 0.7]], rtol=1e-12)


def test_class_logits_with_one_subclass_is_identity():
    z = _t(_logits(1, 5, 3))
    torch.testing.assert_close(class_logits(z, 3), z)


def test_class_logits_with_one_class_is_row_logsumexp():
    z = _logits(2, 5, 4)
    out = class_logits(_t(z), 1)
    np.testing.assert_allclose(
        out.numpy(), logsumexp(z, axis=1, keepdims=True), rtol=1e-12
    )


@pytest.mark.parametrize(("n", "c", "s"), SHAPES)
def test_softmax_of_class_logits_is_block_sum_of_subclass_softmax(n, c, s):
    z = _t(_logits(n + 7 * c + 13 * s, n, c * s))
    class_probs = class_logits(z, c).softmax(dim=1)
    block_sums = z.softmax(dim=1).reshape(n, c, s).sum(dim=2)
    torch.testing.assert_close(class_probs, block_sums, rtol=1e-12, atol=1e-14)


def test_class_logits_blocks_are_contiguous():
    # Subclass k belongs to class k // s: with s = 2 the large logits in
    # columns 2 and 3 make class 1 dominant; an interleaved grouping would not.
    z = _t(np.array([[0.0, 0.0, 10.0, 10.0, 0.0, 0.0]]))
    out = class_logits(z, 3).numpy()[0]
    np.testing.assert_allclose(
        out, [math.log(2.0), 10.0 + math.log(2.0), math.log(2.0)], rtol=1e-12
    )


def test_class_logits_gradient_is_within_block_softmax():
    z = _logits(3, 4, 6)
    zt = _t(z, requires_grad=True)
    weights = _t(np.random.default_rng(4).normal(size=(4, 2)))
    (grad,) = torch.autograd.grad((class_logits(zt, 2) * weights).sum(), zt)
    expected = softmax(z.reshape(4, 2, 3), axis=2) * weights.numpy()[:, :, None]
    np.testing.assert_allclose(grad.numpy(), expected.reshape(4, 6), rtol=1e-10)


@pytest.mark.parametrize(("k", "n_classes"), [(6, 0), (6, -1), (6, 4), (6, 5), (2, 3)])
def test_class_logits_rejects_bad_n_classes(k, n_classes):
    with pytest.raises(ValueError, match="n_classes"):
        class_logits(torch.zeros(3, k), n_classes)


# --------------------------------------------------------------------------
# subclass_auxiliary_loss
# --------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "c", "s"), SHAPES)
def test_aux_loss_matches_reference(n, c, s):
    z = _logits(n * 100 + c * 10 + s, n, c * s)
    for temperature in TEMPERATURES:
        out = subclass_auxiliary_loss(_t(z), temperature)
        assert out.shape == ()
        expected = ref_aux_loss(z, temperature)
        np.testing.assert_allclose(float(out), expected, rtol=1e-9, atol=1e-11)
        if c * s >= 2:  # with K = 1 every standardised row is 0 (see report)
            # Exact bounds: the diagonal of the Gram matrix is r_n / T with
            # r_n = var_n / (var_n + eps) <= 1, so
            # -log N - mean_n(1 - r_n) / T <= L <= 0.
            var = z.var(axis=1)
            slack = np.mean(1.0 - var / (var + EPS)) / temperature
            assert -math.log(n) - slack - 1e-12 <= float(out) <= 1e-12


def test_aux_loss_float32_matches_reference():
    z = _logits(5, 32, 6)
    out = subclass_auxiliary_loss(torch.tensor(z, dtype=torch.float32), 0.5)
    np.testing.assert_allclose(float(out), ref_aux_loss(z, 0.5), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_aux_loss_is_zero_for_identical_rows(n, temperature):
    row = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    z = np.tile(row, (n, 1))
    out = float(subclass_auxiliary_loss(_t(z), temperature))
    # Exactly: every Gram entry is r / T with r = var / (var + eps), so the
    # loss is r / T + log N - 1 / T - log N = -(1 - r) / T.
    var = row.var()
    r = var / (var + EPS)
    np.testing.assert_allclose(out, -(1.0 - r) / temperature, rtol=1e-6, atol=1e-15)
    assert abs(out) < 1e-7


def test_aux_loss_is_invariant_to_per_row_affine_maps():
    # Standardisation removes each row's offset and positive scale.
    z = _logits(6, 7, 6)
    rng = np.random.default_rng(7)
    z2 = z * rng.uniform(0.5, 5.0, size=(7, 1)) + rng.normal(scale=10, size=(7, 1))
    a = float(subclass_auxiliary_loss(_t(z), 0.5))
    b = float(subclass_auxiliary_loss(_t(z2), 0.5))
    assert a == pytest.approx(b, abs=1e-7)


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("k", [2, 3, 6])
def test_aux_loss_opposite_pair_hand_value(k, temperature):
    # N = 2, second row = -first row: zn_2 = -zn_1 and |zn_i|^2 = r / T, so the
    # Gram matrix is (r / T) * [[1, -1], [-1, 1]] and
    # L = r/T + log(1 + exp(-2r/T)) - 1/T - log 2.
    row = np.linspace(-1.0, 2.0, k) ** 3 + np.arange(k)
    z = np.stack([row, -row])
    var = row.var()
    r = var / (var + EPS)
    expected = (
        r / temperature
        + math.log1p(math.exp(-2.0 * r / temperature))
        - 1.0 / temperature
        - math.log(2.0)
    )
    out = float(subclass_auxiliary_loss(_t(z), temperature))
    assert out == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_aux_loss_opposite_pair_exact_k2():
    # z = [[1, -1], [-1, 1]]: mean 0, var 1, zn = +-[1, -1] / sqrt(2 T).
    # T = 1: L = log(1 + e^-2) - log 2 (up to the 1e-9 eps).
    z = _t(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    out = float(subclass_auxiliary_loss(z, 1.0))
    assert out == pytest.approx(math.log1p(math.exp(-2.0)) - math.log(2.0), abs=1e-8)
    # Low temperature: approaches the lower bound -log N = -log 2 (the eps of
    # the standardisation shifts it by -(1 - r) / T = -eps / (var T) = -2e-8).
    low = float(subclass_auxiliary_loss(z, 0.05))
    assert low == pytest.approx(-math.log(2.0) - 1e-9 / 0.05, abs=1e-12)


@pytest.mark.parametrize("temperature", [0.25, 1.0, 2.0])
def test_aux_loss_one_hot_rows_hand_value(temperature):
    # N = K = 3, rows e_1, e_2, e_3. Each row: mean 1/3, var 2/9. Standardised
    # dot products: K * r on the diagonal, -K * r / 2 off it; after the 1/(T K)
    # scaling: r / T and -r / (2 T).
    # L = log(exp(r/T) + 2 exp(-r/(2T))) - 1/T - log 3.
    z = _t(np.eye(3))
    r = (2.0 / 9.0) / (2.0 / 9.0 + EPS)
    expected = (
        math.log(math.exp(r / temperature) + 2.0 * math.exp(-r / (2.0 * temperature)))
        - 1.0 / temperature
        - math.log(3.0)
    )
    out = float(subclass_auxiliary_loss(z, temperature))
    assert out == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_aux_loss_single_example_is_zero():
    z = _t(_logits(8, 1, 6))
    assert float(subclass_auxiliary_loss(z, 0.3)) == pytest.approx(0.0, abs=1e-8)


def test_aux_loss_is_lower_for_uncorrelated_rows():
    # Identical (fully correlated) rows cost more than random rows.
    z_same = _t(np.tile([0.0, 1.0, 2.0, 3.0], (4, 1)))
    z_mixed = _t(_logits(9, 4, 4))
    assert float(subclass_auxiliary_loss(z_mixed)) < float(
        subclass_auxiliary_loss(z_same)
    )


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
@pytest.mark.parametrize(("n", "k"), [(1, 3), (2, 2), (5, 6), (8, 4)])
def test_aux_loss_gradcheck(n, k, temperature):
    z = _t(_logits(n * k, n, k, scale=1.0), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: subclass_auxiliary_loss(x, temperature), (z,), eps=1e-6, atol=1e-5
    )


def test_aux_loss_gradient_matches_numpy_finite_differences():
    z = _logits(10, 4, 6, scale=1.0)
    zt = _t(z, requires_grad=True)
    (grad,) = torch.autograd.grad(subclass_auxiliary_loss(zt, 0.5), zt)
    h = 1e-6
    fd = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        fd[idx] = (ref_aux_loss(zp, 0.5) - ref_aux_loss(zm, 0.5)) / (2 * h)
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-7)
    assert np.abs(fd).max() > 1e-3  # the check is not vacuous


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_aux_loss_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        subclass_auxiliary_loss(torch.randn(4, 6), temperature)


# --------------------------------------------------------------------------
# distillation_loss
# --------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "c", "s"), SHAPES)
def test_distillation_loss_matches_reference(n, c, s):
    k = c * s
    student = _logits(n * 100 + c * 10 + s, n, k)
    teacher = _logits(n * 100 + c * 10 + s + 1, n, k)
    for temperature in TEMPERATURES:
        expected = ref_distillation_per_example(student, teacher, temperature)

        mean = distillation_loss(_t(student), _t(teacher), temperature)
        assert mean.shape == ()
        np.testing.assert_allclose(float(mean), expected.mean(), rtol=1e-10, atol=1e-12)

        per = distillation_loss(_t(student), _t(teacher), temperature, reduction="none")
        assert per.shape == (n,)
        np.testing.assert_allclose(per.numpy(), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            float(per.mean()), float(mean), rtol=1e-12, atol=1e-14
        )


def test_distillation_loss_hand_value():
    # Teacher (0, 0) at T = 1: p = (1/2, 1/2); student (log 1/4, log 3/4):
    # CE = -(log(1/4) + log(3/4)) / 2.
    teacher = _t(np.zeros((1, 2)))
    student = _t(np.log([[0.25, 0.75]]))
    out = float(distillation_loss(student, teacher, 1.0))
    assert out == pytest.approx(-(math.log(0.25) + math.log(0.75)) / 2, rel=1e-12)
    # Same logits at T = 2 and the T^2 factor: 4 * CE(p, softmax(student / 2)).
    q = softmax(np.log([0.25, 0.75]) / 2)
    out2 = float(distillation_loss(student, teacher, 2.0))
    assert out2 == pytest.approx(4 * -0.5 * np.log(q).sum(), rel=1e-12)


def test_distillation_loss_at_student_equal_teacher_is_scaled_entropy():
    t = _logits(11, 5, 6)
    for temperature in TEMPERATURES:
        p = softmax(t / temperature, axis=1)
        entropy = -(p * np.log(p)).sum(axis=1)
        out = distillation_loss(_t(t), _t(t), temperature, reduction="none")
        np.testing.assert_allclose(
            out.numpy(), temperature**2 * entropy, rtol=1e-10, atol=1e-12
        )


def test_distillation_loss_float32_matches_reference():
    s, t = _logits(12, 16, 6), _logits(13, 16, 6)
    out = distillation_loss(
        torch.tensor(s, dtype=torch.float32), torch.tensor(t, dtype=torch.float32), 4.0
    )
    expected = ref_distillation_per_example(s, t, 4.0).mean()
    np.testing.assert_allclose(float(out), expected, rtol=1e-5)


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize(("n", "k"), [(1, 1), (1, 3), (4, 6), (7, 2)])
def test_distillation_loss_gradcheck(n, k, temperature):
    s = _t(_logits(n + k, n, k, scale=1.0), requires_grad=True)
    t = _t(_logits(n + k + 1, n, k, scale=1.0))
    assert torch.autograd.gradcheck(
        lambda x: distillation_loss(x, t, temperature), (s,), eps=1e-6, atol=1e-5
    )
    assert torch.autograd.gradcheck(
        lambda x: distillation_loss(x, t, temperature, reduction="none"),
        (s,),
        eps=1e-6,
        atol=1e-5,
    )


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_distillation_loss_gradient_hand_formula(temperature):
    # d/ds [T^2 * mean_n CE(p, log_softmax(s/T))] = T * (q - p) / N.
    n, k = 6, 5
    s, t = _logits(14, n, k), _logits(15, n, k)
    st = _t(s, requires_grad=True)
    (grad,) = torch.autograd.grad(distillation_loss(st, _t(t), temperature), st)
    expected = (
        temperature
        * (softmax(s / temperature, axis=1) - softmax(t / temperature, axis=1))
        / n
    )
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-9, atol=1e-13)


def test_no_gradient_flows_into_teacher_logits():
    s = _t(_logits(16, 4, 6), requires_grad=True)
    t = _t(_logits(17, 4, 6), requires_grad=True)
    loss = distillation_loss(s, t, 2.0)
    grad_s, grad_t = torch.autograd.grad(loss, (s, t), allow_unused=True)
    assert grad_t is None
    assert grad_s is not None and grad_s.abs().max() > 1e-6
    loss = distillation_loss(s, t, 2.0)
    loss.backward()
    assert t.grad is None
    assert s.grad is not None


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_distillation_loss_rejects_bad_temperature(temperature):
    z = torch.randn(3, 4)
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(z, z, temperature)


@pytest.mark.parametrize(("shape_s", "shape_t"), [((3, 4), (2, 4)), ((3, 4), (3, 6))])
def test_distillation_loss_rejects_mismatched_shapes(shape_s, shape_t):
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(torch.randn(*shape_s), torch.randn(*shape_t), 1.0)


@pytest.mark.parametrize("reduction", ["sum", "batchmean", "MEAN", None])
def test_distillation_loss_rejects_bad_reduction(reduction):
    z = torch.randn(3, 4)
    with pytest.raises(ValueError, match="reduction"):
        distillation_loss(z, z, 1.0, reduction=reduction)


# -- within_class_auxiliary_loss -----------------------------------------------


def test_within_class_aux_loss_is_the_paper_loss_per_class_block():
    torch.manual_seed(0)
    z = torch.randn(12, 6)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 1, 1, 2])
    expected = sum(
        (y == c).sum() / 12 * subclass_auxiliary_loss(z[y == c, 2 * c : 2 * c + 2])
        for c in range(3)
    )
    assert torch.allclose(within_class_auxiliary_loss(z, y, 3), expected)


def test_within_class_aux_loss_skips_classes_with_one_row():
    torch.manual_seed(0)
    z, y = torch.randn(3, 4), torch.tensor([0, 0, 1])
    expected = 2 / 3 * subclass_auxiliary_loss(z[:2, :2])
    assert torch.allclose(within_class_auxiliary_loss(z, y, 2), expected)
    assert float(within_class_auxiliary_loss(z, torch.tensor([0, 1, 2]), 3)) == 0.0


def test_within_class_aux_loss_ignores_other_classes_logits():
    torch.manual_seed(0)
    z, y = torch.randn(6, 4), torch.tensor([0, 0, 0, 1, 1, 1])
    moved = z.clone()
    moved[:3, 2:] = torch.randn(3, 2)  # class 1's logits on class 0's rows
    assert torch.allclose(
        within_class_auxiliary_loss(z, y, 2), within_class_auxiliary_loss(moved, y, 2)
    )


def _information_reference(z, y, n_classes, entropy_weight, weight=None):
    """NumPy float64 reference of subclass_information_loss."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y)
    weight = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    s = z.shape[1] // n_classes
    total = 0.0
    for c in range(n_classes):
        w = weight * (y == c)
        if w.sum() == 0:
            continue
        p = softmax(z[:, c * s : (c + 1) * s], axis=1)
        row_entropy = -(p * np.log(p)).sum(1)
        mean_p = (w[:, None] * p).sum(0) / w.sum()
        loss = (
            entropy_weight * (w * row_entropy).sum() / w.sum()
            + (mean_p * np.log(mean_p)).sum()
        )
        total += w.sum() / weight.sum() * loss
    return total


@pytest.mark.parametrize("n, c, s", [(8, 2, 3), (13, 3, 4), (5, 2, 1)])
@pytest.mark.parametrize("entropy_weight", [0.0, 0.3, 1.0])
def test_information_loss_matches_reference(n, c, s, entropy_weight):
    rng = np.random.RandomState(n + c + s)
    z, y = rng.randn(n, c * s), rng.randint(0, c, n)
    got = subclass_information_loss(torch.tensor(z), torch.tensor(y), c, entropy_weight)
    assert got.dtype == torch.float64
    assert math.isclose(
        float(got), _information_reference(z, y, c, entropy_weight), rel_tol=1e-12,
        abs_tol=1e-12,
    )  # fmt: skip


def test_information_loss_bounds_hand_values():
    y = torch.tensor([0, 0, 1, 1])
    # Each class's two rows sure of different subclasses: -log 2 (+0 entropy).
    sure_apart = 50 * torch.tensor(
        [[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    )
    assert math.isclose(
        float(subclass_information_loss(sure_apart, y, 2)), -math.log(2),
        rel_tol=1e-6,
    )  # fmt: skip
    # Every row sure of the same subclass: no balance, no entropy: 0.
    collapsed = 50 * torch.tensor([[1.0, 0, 1, 0]] * 4)
    assert abs(float(subclass_information_loss(collapsed, y, 2))) < 1e-6
    # Uniform rows: balanced but unsure, (entropy_weight - 1) * log 2.
    uniform = torch.zeros(4, 4)
    got = subclass_information_loss(uniform, y, 2, entropy_weight=0.3)
    assert math.isclose(float(got), -0.7 * math.log(2), rel_tol=1e-6)


def test_information_loss_ignores_other_classes_logits():
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(6, 6, generator=rng)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    other = z.clone()
    other[y == 0, 3:] += 5.0  # logits of classes 1 and 2 on class-0 rows
    assert torch.equal(
        subclass_information_loss(z, y, 3), subclass_information_loss(other, y, 3)
    )


def test_information_loss_weights_count_as_repeated_rows():
    rng = torch.Generator().manual_seed(1)
    z, y = torch.randn(7, 6, generator=rng), torch.tensor([0, 1, 2, 0, 1, 2, 2])
    weight = torch.tensor([1.0, 2, 0, 1, 3, 1, 2])
    rows = torch.repeat_interleave(torch.arange(7), weight.long())
    got = subclass_information_loss(z, y, 3, sample_weight=weight)
    assert torch.allclose(got, subclass_information_loss(z[rows], y[rows], 3))
    scaled = subclass_information_loss(z, y, 3, sample_weight=2.5 * weight)
    assert torch.allclose(got, scaled)


def test_information_loss_gradcheck():
    z = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    assert torch.autograd.gradcheck(
        lambda t: subclass_information_loss(t, y, 2, 0.3), (z,)
    )


def test_information_loss_rejects_negative_entropy_weight():
    with pytest.raises(ValueError, match="entropy_weight"):
        subclass_information_loss(torch.zeros(2, 2), torch.tensor([0, 1]), 2, -0.1)


@pytest.mark.parametrize("c, s", [(2, 5), (3, 2), (2, 1)])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_subclass_distillation_loss_at_weight_one_is_distillation_loss(
    c, s, temperature
):
    rng = torch.Generator().manual_seed(c * 10 + s)
    z = torch.randn(9, c * s, generator=rng, dtype=torch.float64)
    t = torch.randn(9, c * s, generator=rng, dtype=torch.float64)
    expected = distillation_loss(z, t, temperature, reduction="none")
    got = subclass_distillation_loss(z, t, c, temperature, reduction="none")
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_subclass_distillation_loss_at_weight_zero_distils_the_classes():
    rng = torch.Generator().manual_seed(3)
    z = torch.randn(6, 6, generator=rng, dtype=torch.float64)
    t = torch.randn(6, 6, generator=rng, dtype=torch.float64)
    # At T=2 the class probabilities of softmax(z / T) are softmax of the
    # log-sum-exp of z / T over each class's block.
    expected = distillation_loss(
        2.0 * class_logits(z / 2.0, 3), 2.0 * class_logits(t / 2.0, 3), 2.0
    )
    got = subclass_distillation_loss(z, t, 3, 2.0, subclass_weight=0.0)
    assert torch.allclose(got, expected, rtol=1e-12)


def test_subclass_distillation_loss_is_linear_in_the_weight():
    rng = torch.Generator().manual_seed(4)
    z, t = torch.randn(5, 4, generator=rng), torch.randn(5, 4, generator=rng)
    at = {w: subclass_distillation_loss(z, t, 2, 1.0, w) for w in (0.0, 0.3, 1.0)}
    assert torch.allclose(at[0.3], at[0.0] + 0.3 * (at[1.0] - at[0.0]), atol=1e-6)
    assert at[0.3] < at[1.0]  # the within-class term is positive


def test_subclass_distillation_loss_gradcheck_and_teacher_detached():
    z = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: subclass_distillation_loss(a, t, 2, 1.5, 0.3), (z,)
    )
    subclass_distillation_loss(z, t, 2, 1.5, 0.3).backward()
    assert t.grad is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"subclass_weight": -0.1}, "subclass_weight"),
        ({"reduction": "sum"}, "reduction"),
    ],
)
def test_subclass_distillation_loss_rejects_bad_arguments(kwargs, match):
    args = {"temperature": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        subclass_distillation_loss(torch.zeros(2, 4), torch.zeros(2, 4), 2, **args)
