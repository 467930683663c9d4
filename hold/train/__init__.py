"""Engine I: training the compositional hash-grid model (see hold.train.run)."""

from .config import TrainConfig
from .run import train_sequence

__all__ = ["TrainConfig", "train_sequence"]
