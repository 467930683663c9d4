"""hold-fast: reconstruct a hand and the object it holds from one monocular RGB video.

A re-engineering of HOLD (Fan et al., CVPR 2024) on hash grids and custom CPU/CUDA kernels.
Importing this package is cheap: the compiled extension ``hold._C`` is loaded lazily by
``hold.ops`` on first use, and nothing is compiled at import time.
"""

__version__ = "0.1.0"
