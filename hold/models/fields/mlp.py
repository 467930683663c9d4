"""Small MLPs for the fields (HOLD uses 8×256 MLPs; hash-grid fields need only one hidden
layer of 64, as instant-NGP and instant-nsr-pl show)."""

from __future__ import annotations

import torch


class MLP(torch.nn.Module):
    """Linear → ReLU → … → Linear. The last layer starts at zero output when ``zero_last`` (a
    residual on top of a prior starts as the prior itself)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, n_hidden: int = 1,
                 zero_last: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        dims = [in_dim] + [hidden] * n_hidden + [out_dim]
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        for layer in self.layers:  # He init, seeded so CPU runs reproduce
            bound = (6.0 / layer.in_features) ** 0.5
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
        if zero_last:
            with torch.no_grad():
                self.layers[-1].weight.mul_(1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
