"""Shared building blocks of the scene nodes: hash grids, small MLPs, SDF→density."""

from .hashgrid import HashGrid

__all__ = ["HashGrid"]
