"""``python -m service …`` is the ``srf`` command."""

import sys

from .cli.main import main

sys.exit(main())
