"""Training faults: a diverging loss, an interrupt, running out of memory."""

import signal
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from torch import nn

from sklearn_subdistill import (
    SubclassDistilledStudent,
    SubclassTeacherClassifier,
    _training_data,
)

TINY = dict(
    hidden_layer_sizes=(8,),
    max_epochs=4,
    lr=1e-2,
    batch_size=32,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((128, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y  # 4 batches of 32 per epoch


class FaultyNet(nn.Module):
    """A linear network that misbehaves on chosen training batches.

    ``fault(call, batch)`` returns an exception to raise, a value to add to
    the logits (NaN, inf), or None; ``call`` counts training forward passes
    from 1. ``eval_fault`` does the same in evaluation mode.
    """

    def __init__(self, n_features, n_outputs, fault=None, eval_fault=None):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)
        self.fault = fault
        self.eval_fault = eval_fault
        self.calls = 0

    def forward(self, X):
        out = self.linear(X)
        if self.training:
            self.calls += 1
            effect = self.fault and self.fault(self.calls, X)
        else:
            effect = self.eval_fault and self.eval_fault(X)
        if isinstance(effect, BaseException):
            raise effect
        return out if effect is None else out + effect


class InterruptAt(Callback):
    """Raise KeyboardInterrupt after batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch, real_signal=False):
        self.epoch = epoch
        self.batch = batch
        self.real_signal = real_signal

    def on_batch_end(self, net, training=None, **kwargs):
        row = net.history[-1]
        if (
            training
            and row["epoch"] == self.epoch
            and len(row["batches"]) == self.batch
        ):
            if self.real_signal:
                signal.raise_signal(signal.SIGINT)  # what Ctrl-C sends
            raise KeyboardInterrupt


def _weights(model):
    return {k: v.clone() for k, v in model.net_.module_.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- a loss that becomes NaN or infinite ---------------------------------------


def test_diverging_learning_rate_stops_with_a_clear_error(data):
    X, y = data
    model = SubclassTeacherClassifier(**{**TINY, "optimizer": "sgd", "lr": 1e10})
    with pytest.raises(FloatingPointError) as info:
        model.fit(X * 100, y)
    message = str(info.value)
    assert "SubclassTeacherClassifier: the training loss became" in message
    assert "at epoch 1 (batch" in message
    assert "Try a lower lr (now 1e+10)" in message
    assert not hasattr(model, "net_")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_loss_names_the_epoch_and_stops_there(data, value):
    X, y = data
    calls = []

    def fault(call, X):
        calls.append(call)
        return value if call == 10 else None  # epoch 3, batch 2

    model = SubclassTeacherClassifier(module=FaultyNet, module__fault=fault, **TINY)
    with pytest.raises(
        FloatingPointError, match=r"became (nan|inf) at epoch 3 \(batch 2\)"
    ):
        model.fit(X, y)
    assert calls[-1] == 10  # stopped at the bad batch


def test_non_finite_loss_error_gives_batch_and_remedy(data):
    X, y = data
    model = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(**TINY),
        module=FaultyNet,
        module__fault=lambda call, X: float("nan") if call == 3 else None,
        **TINY,
    )
    with pytest.raises(FloatingPointError) as info:
        model.fit(X, y)
    assert str(info.value) == (
        "SubclassDistilledStudent: the training loss became nan at epoch 1 "
        "(batch 3); training stopped. Try a lower lr (now 0.01) or standardised "
        "features (e.g. sklearn.preprocessing.StandardScaler)."
    )


def test_non_finite_validation_loss_stops_training(data):
    X, y = data
    model = SubclassTeacherClassifier(
        module=FaultyNet,
        module__eval_fault=lambda X: float("nan"),
        early_stopping=True,
        **TINY,
    )
    with pytest.raises(
        FloatingPointError, match="validation loss became nan at epoch 1"
    ):
        model.fit(X, y)


def test_fp16_tolerates_a_skipped_batch_but_not_a_lost_epoch(data):
    X, y = data
    # With fp16 the gradient scaler skips a step whose loss is not finite.
    once = dict(
        module=FaultyNet, module__fault=lambda call, X: np.inf if call == 2 else None
    )
    model = SubclassTeacherClassifier(precision="fp16", **once, **TINY).fit(X, y)
    assert model.n_iter_ == TINY["max_epochs"]
    assert np.isfinite(model.predict_proba(X)).all()
    with pytest.raises(FloatingPointError, match="at epoch 1"):
        SubclassTeacherClassifier(**once, **TINY).fit(X, y)  # fp32: no scaler

    always = dict(module=FaultyNet, module__fault=lambda call, X: np.nan)
    with pytest.raises(FloatingPointError, match=r"at epoch 1 \(every batch\)"):
        SubclassTeacherClassifier(precision="fp16", **always, **TINY).fit(X, y)


# -- KeyboardInterrupt ------------------------------------------------------------


def test_interrupt_keeps_the_last_completed_epoch(data):
    X, y = data
    model = SubclassTeacherClassifier(callbacks=[InterruptAt(3, 2)], **TINY)
    with pytest.warns(UserWarning, match=r"interrupted .* during epoch 3; .* epoch 2"):
        model.fit(X, y)
    assert model.n_iter_ == 2 == len(model.history_)
    assert model.history_[-1, "epoch"] == 2
    # Exactly the model two full epochs give: nothing of epoch 3 is left.
    reference = SubclassTeacherClassifier(**{**TINY, "max_epochs": 2}).fit(X, y)
    assert _same_weights(_weights(model), _weights(reference))
    assert_array_equal(model.predict_proba(X), reference.predict_proba(X))


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="SIGINT is handled by someone else here",
)
def test_real_sigint_is_handled_like_ctrl_c(data):
    X, y = data
    model = SubclassTeacherClassifier(callbacks=[InterruptAt(2, 1, True)], **TINY)
    with pytest.warns(UserWarning, match="keeps the weights of epoch 1"):
        model.fit(X, y)
    assert model.n_iter_ == 1


def test_interrupt_in_the_first_epoch_keeps_nothing(data):
    X, y = data
    model = SubclassTeacherClassifier(callbacks=[InterruptAt(1, 3)], **TINY)
    with pytest.raises(KeyboardInterrupt, match="before any epoch completed"):
        model.fit(X, y)
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_interrupt_with_early_stopping_keeps_the_best_epoch(data):
    X, y = data
    params = dict(early_stopping=True, n_iter_no_change=100, **TINY)
    # Interrupted in epoch 4: the best of epochs 1-3, as a 3-epoch run keeps.
    interrupted = SubclassTeacherClassifier(
        callbacks=[InterruptAt(4, 1)], **{**params, "max_epochs": 10}
    )
    with pytest.warns(UserWarning, match="keeps the weights of epoch 3"):
        interrupted.fit(X, y)
    complete = SubclassTeacherClassifier(**{**params, "max_epochs": 3}).fit(X, y)
    assert interrupted.n_iter_ == 3
    assert _same_weights(_weights(interrupted), _weights(complete))


def test_early_stopping_is_not_mistaken_for_an_interrupt(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an "interrupted" warning would fail
        model = SubclassTeacherClassifier(
            early_stopping=True, n_iter_no_change=1, **{**TINY, "max_epochs": 200}
        ).fit(X, y)
    assert model.n_iter_ < 200


def test_interrupt_while_the_student_fits_its_teacher_stops_everything(data):
    X, y = data
    teacher = SubclassTeacherClassifier(callbacks=[InterruptAt(2, 1)], **TINY)
    student = SubclassDistilledStudent(teacher=teacher, **TINY)
    with pytest.warns(UserWarning, match="interrupted"):
        with pytest.raises(KeyboardInterrupt, match="while fitting its teacher"):
            student.fit(X, y)
    assert not hasattr(student, "net_")


def test_interrupt_while_the_student_trains(data):
    X, y = data
    student = SubclassDistilledStudent(
        teacher=SubclassTeacherClassifier(**TINY),
        callbacks=[InterruptAt(2, 3)],
        **TINY,
    )
    with pytest.warns(
        UserWarning, match="SubclassDistilledStudent.fit was interrupted"
    ):
        student.fit(X, y)
    assert student.n_iter_ == 1
    assert student.predict(X).shape == (len(X),)


# -- running out of memory -------------------------------------------------------


def _out_of_memory(X):
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_in_training_suggests_a_smaller_batch(data):
    X, y = data
    big_batches = lambda call, X: _out_of_memory(X) if len(X) > 16 else None  # noqa: E731
    model = SubclassTeacherClassifier(
        module=FaultyNet, module__fault=big_batches, **TINY
    )
    with pytest.raises(torch.cuda.OutOfMemoryError) as info:
        model.fit(X, y)
    message = str(info.value)
    assert "ran out of memory on cpu while training with batch_size=32" in message
    assert "Try a smaller batch_size" in message
    assert "Tried to allocate 2.00 GiB" in message  # torch's own words kept
    # ... and the advice works.
    model.set_params(batch_size=16).fit(X, y)
    assert model.n_iter_ == TINY["max_epochs"]


def test_out_of_memory_in_prediction_names_the_batch(data, monkeypatch):
    X, y = data
    model = SubclassTeacherClassifier(
        module=FaultyNet,
        module__eval_fault=lambda X: _out_of_memory(X) if len(X) > 50 else None,
        **TINY,
    ).fit(X, y)
    with pytest.raises(torch.cuda.OutOfMemoryError, match="in batches of 8192 rows"):
        model.predict_proba(X)
    monkeypatch.setattr(_training_data, "INFERENCE_BATCH_SIZE", 50)
    assert model.predict_proba(X).shape == (len(X), 2)
