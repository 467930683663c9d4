from .object_node import ObjectNode, object_box

__all__ = ["ObjectNode", "object_box"]
