"""``python -m core.cli``: the same as ``edgeslim-cli``."""

import sys

from core.cli import main

sys.exit(main())
