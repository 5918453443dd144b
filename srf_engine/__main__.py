"""The engine has no command line of its own: ``srf`` (or ``python -m service``) is the front end.

Kept so that ``python -m srf_engine`` says where the command went instead of failing obscurely; it
imports nothing above the engine.
"""

import sys

print(
    "srf_engine is the numerical engine; its command line is `srf` (or `python -m service`), "
    "e.g. `python -m service serve`",
    file=sys.stderr,
)
sys.exit(2)
