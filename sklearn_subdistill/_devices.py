"""The torch device an estimator trains on: checked, resolved, usable here."""

import torch

#: Accelerator device types the estimators accept, with their names in messages.
_ACCELERATORS = {"cuda": "CUDA", "mps": "MPS", "xpu": "XPU"}


def resolve_device(device):
    """The torch device string for ``device``; ``"auto"`` picks CUDA when present.

    Raises ``ValueError`` for an unknown device, a device type the estimators
    do not train on, or one that is not available on this machine.
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' or "
            "'cuda:N'."
        ) from exc
    if resolved.type == "cpu":
        return str(resolved)
    if resolved.type not in _ACCELERATORS:
        raise ValueError(
            f"device={device!r} is not supported: the estimators train on 'cpu', "
            "'cuda', 'cuda:N', 'mps' or 'xpu' (or 'auto')."
        )
    backend = getattr(torch, resolved.type, None)
    if backend is None or not backend.is_available():
        raise ValueError(
            f"device={device!r} was requested but {_ACCELERATORS[resolved.type]} is "
            "not available on this machine; use device='cpu' or device='auto'."
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"device={device!r} does not exist: this machine has {count} "
            f"{_ACCELERATORS[resolved.type]} device(s)."
        )
    return str(resolved)


def usable_device(device):
    """Whether ``device`` names a device this machine has (or ``"auto"``).

    False only for an accelerator that is missing here; a device string that
    is wrong on any machine is left for ``fit`` to report.
    """
    try:
        resolve_device(device)
    except ValueError:
        try:
            kind = torch.device(device).type
        except (RuntimeError, TypeError):
            return True
        return kind not in _ACCELERATORS
    return True
