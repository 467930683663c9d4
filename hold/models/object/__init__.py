from .object_node import ObjectNode
from .start import ObjectStart, object_start
from .visual_hull import HullSettings, VisualHull, object_hull

__all__ = ["HullSettings", "ObjectNode", "ObjectStart", "VisualHull", "object_hull", "object_start"]
