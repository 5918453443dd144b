"""``python -m srf_engine …`` is the ``srf`` command."""

import sys

from .cli import main

sys.exit(main())
