from .background_node import BackgroundImage, median_background

__all__ = ["BackgroundImage", "median_background"]
