"""`python -m hold.cli …` is `hold-fast …`."""

import sys

from .main import main

sys.exit(main())
