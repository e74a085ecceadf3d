"""``python -m core.cli``: the same as ``edgeslim-cli``."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main())
