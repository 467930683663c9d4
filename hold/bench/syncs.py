"""Counts, on the CPU, the host–device synchronisations that code would cause on a GPU.

A CUDA run stalls whenever the host needs a value computed on the device (``.item()``,
``float(t)``, ``bool(t)``, ``.tolist()``, ``.cpu()``, an op whose output size depends on the
data) or copies host memory to the device with a blocking copy: the launch queue drains and the
host waits. torch.cuda's sync debug mode reports these, but only on a GPU. ``SyncCounter``
finds the same calls on the CPU:

- **scalar reads**: ``aten::_local_scalar_dense`` (every ``item``/``float``/``int``/``bool`` of a
  tensor);
- **data-dependent shapes**: ``nonzero``, ``masked_select``, ``unique``, indexing with a boolean
  mask, ``repeat_interleave`` without ``output_size``;
- **readbacks inside hold's own ops**: ``hold::march_rays`` reads its sample count back to
  allocate the packed output; ``hold::skin_weight_volume`` reads the vertices' box;
- **host transfers**: ``Tensor.cpu``/``numpy``/``tolist`` (device → host), and blocking
  ``Tensor.to(device)`` / ``Tensor.new_tensor`` / ``torch.tensor(..., device=...)`` (host →
  device: pageable memory, so torch synchronises the stream after the copy).

Host transfers are counted by the call, not by where the tensor would live, so on the CPU a
``.to(device)`` of a tensor that a GPU run would already hold on the device counts too; the
report names every source line so such a case can be read off. Each event is attributed to the
innermost line in the ``hold`` package that caused it (and that line's caller in ``hold``).

    with SyncCounter() as counter:
        trainer.step()
    print(counter.total, counter.by_line())
"""

from __future__ import annotations

import collections
import os
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import hold

_HOLD_DIR = os.path.dirname(os.path.abspath(hold.__file__)) + os.sep
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(hold.__file__)))  # above hold/
_THIS_FILE = os.path.abspath(__file__)

SCALAR = "scalar read"
SHAPE = "data-dependent shape"
NATIVE = "readback in a hold op"
TO_HOST = "device -> host copy"
TO_DEVICE = "blocking host -> device copy"

_SHAPE_OPS = {"aten::nonzero", "aten::masked_select", "aten::unique", "aten::_unique",
              "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive",
              "aten::nonzero_static"}
_NATIVE_OPS = {"hold::march_rays", "hold::skin_weight_volume"}


def _op_name(func) -> str:
    return func._schema.name  # e.g. "aten::nonzero", "hold::march_rays"


def _has_bool_index(indices) -> bool:
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
               for i in indices or ())


def classify(func, args, kwargs) -> str | None:
    """The sync category of one dispatched op, or None when it would not sync on a GPU."""
    name = _op_name(func)
    if name == "aten::_local_scalar_dense":
        return SCALAR
    if name in _SHAPE_OPS:
        return SHAPE
    if name in ("aten::index", "aten::_index_put_impl", "aten::index_put") and \
            _has_bool_index(args[1] if len(args) > 1 else kwargs.get("indices")):
        return SHAPE
    if name == "aten::repeat_interleave" and func._overloadname == "Tensor" and \
            kwargs.get("output_size") is None:
        return SHAPE  # the output size is the sum of the repeats, read on the host
    if name in _NATIVE_OPS:
        return NATIVE
    return None


class SyncCounter(TorchDispatchMode):
    """Context manager: counts would-be GPU synchronisations (see the module docstring).

    ``host_tensors()``, when given, returns the tensors that stay on the host in a GPU run too
    (e.g. Adam's step counters): reading their values is no synchronisation.
    """

    def __init__(self, host_tensors=None):
        super().__init__()
        self.host_tensors = host_tensors
        self.events: list[tuple[str, str]] = []  # (category, "file:line ← file:line")
        self._patches: list[tuple[object, str, object]] = []

    # -- results -------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.events)

    def by_category(self) -> dict[str, int]:
        return dict(collections.Counter(c for c, _ in self.events))

    def by_line(self) -> list[tuple[str, str, int]]:
        """(category, source line, count), most frequent first."""
        counts = collections.Counter(self.events)
        return [(c, where, n) for (c, where), n in counts.most_common()]

    # -- recording -----------------------------------------------------------------------------

    def _record(self, category: str) -> None:
        frames = []
        frame = sys._getframe(1)
        while frame is not None and len(frames) < 2:
            path = os.path.abspath(frame.f_code.co_filename)
            if path.startswith(_HOLD_DIR) and path != _THIS_FILE:
                frames.append(f"{os.path.relpath(path, _ROOT)}:"
                              f"{frame.f_lineno}")
            frame = frame.f_back
        self.events.append((category, " <- ".join(frames) or "(outside hold)"))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        category = classify(func, args, kwargs)
        if category == SCALAR and self._on_host(args[0]):
            category = None
        if category is not None:
            self._record(category)
        return func(*args, **kwargs)

    def _on_host(self, t: torch.Tensor) -> bool:
        if self.host_tensors is None:
            return False
        return any(h.data_ptr() == t.data_ptr() for h in self.host_tensors())

    def _patch(self, owner, name: str, category: str, counts) -> None:
        original = getattr(owner, name)
        counter = self

        def wrapper(*args, **kwargs):
            if counts(args, kwargs):
                counter._record(category)
            return original(*args, **kwargs)

        self._patches.append((owner, name, original))
        setattr(owner, name, wrapper)

    def __enter__(self):
        always = lambda args, kwargs: True  # noqa: E731
        for name in ("cpu", "numpy", "tolist"):
            self._patch(torch.Tensor, name, TO_HOST, always)
        self._patch(torch.Tensor, "to", TO_DEVICE, _names_a_device_blocking)
        self._patch(torch.Tensor, "cuda", TO_DEVICE, lambda a, k: not k.get("non_blocking"))
        self._patch(torch.Tensor, "new_tensor", TO_DEVICE, always)
        for name in ("tensor", "as_tensor"):
            self._patch(torch, name, TO_DEVICE, _creates_on_a_device)
        return super().__enter__()

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()
        return super().__exit__(*exc)


def _names_a_device_blocking(args, kwargs) -> bool:
    """Tensor.to(...) naming a device (positionally or by keyword) without non_blocking=True."""
    if kwargs.get("non_blocking") or (len(args) > 2 and isinstance(args[2], bool) and args[2]):
        return False
    candidates = list(args[1:2]) + [kwargs.get("device")]
    return any(isinstance(c, (torch.device, str)) for c in candidates if c is not None)


def _creates_on_a_device(args, kwargs) -> bool:
    return kwargs.get("device") is not None and not isinstance(args[0] if args else None,
                                                               torch.Tensor)


def optimizer_step_counters(optimizer) -> list[torch.Tensor]:
    """The per-parameter step counters of torch's Adam: host tensors unless the optimizer is
    ``capturable`` or ``fused``, so reading them costs no synchronisation."""
    return [s["step"] for s in optimizer.state.values()
            if isinstance(s.get("step"), torch.Tensor) and s["step"].device.type == "cpu"]


def count_training_syncs(trainer, steps: int) -> SyncCounter:
    """Runs ``steps`` training steps of ``trainer`` inside a SyncCounter and returns it."""
    with SyncCounter(lambda: optimizer_step_counters(trainer.optimizer)) as counter:
        for _ in range(steps):
            trainer.step()
    return counter
