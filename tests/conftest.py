"""Shared fixtures: devices to run on, seeded generators, and the native-extension gate."""

import pytest
import torch

from hold.ops import _loader

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    """Every device this machine has (the CPU always; CUDA when present)."""
    if request.param == "cuda" and not _loader.has_native("cuda"):
        pytest.skip("needs a GPU and a CUDA build of hold._C")
    return torch.device(request.param)


@pytest.fixture
def gen():
    """A seeded CPU generator per test."""
    return torch.Generator().manual_seed(1234)


requires_native = pytest.mark.skipif(
    _loader.native_module() is None,
    reason=f"hold._C is not built ({_loader.load_error()}); build it with "
    "`pip install --no-build-isolation -e .`",
)
requires_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and _loader.has_native("cuda")),
    reason="needs a GPU and a CUDA build of hold._C",
)


@pytest.fixture(scope="session")
def tiny_sequence(tmp_path_factory):
    """A 4-frame 96×96 synthetic mug sequence with ground truth (engine and pipeline tests)."""
    from hold.models.hand.builtin import BuiltinHand
    from hold.synth.generate import generate_sequence

    root = tmp_path_factory.mktemp("seq") / "tiny"
    generate_sequence(root, object="025_mug", frames=4, size=(96, 96), seed=3,
                      hand_model=BuiltinHand(), video=False)
    return root
