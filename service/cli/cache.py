"""``srf cache stats|prune|clear``: the result store managed from the shell (JSON on stdout).

* ``stats``: the file's path and sizes, how many results (and their bytes), jobs by status.
* ``prune``: evict least recently used results beyond ``--max-bytes`` (default ``SRF_CACHE_MAX_BYTES``)
  and delete finished jobs older than ``--job-ttl`` seconds (default ``SRF_JOB_TTL_SECONDS``).
* ``clear``: delete every result and every finished job (a running server's unfinished jobs stay).

It works beside running servers (the file is shared the same way) and uses the server's settings
unless ``--path`` names another file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cache = commands.add_parser(
        "cache",
        help="inspect or trim the result store (stats, prune, clear)",
        description="Inspect or trim the SQLite result store the service uses (SRF_CACHE_PATH).",
    )
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("stats", "sizes and counts of the store"),
        ("prune", "evict least recently used results beyond the size cap; delete expired jobs"),
        ("clear", "delete every result and finished job"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--path", type=Path, default=None, help="the store (default: SRF_CACHE_PATH)")
        if name == "prune":
            action.add_argument(
                "--max-bytes", type=int, default=None, help="size cap (default: SRF_CACHE_MAX_BYTES)"
            )
            action.add_argument(
                "--job-ttl",
                type=float,
                default=None,
                help="seconds a finished job is kept (default: SRF_JOB_TTL_SECONDS)",
            )


def run(args: argparse.Namespace) -> int:
    from ..settings import get_settings
    from ..store.sqlite import Store

    settings = get_settings()
    path = args.path if args.path is not None else settings.cache_path
    if args.action != "stats" or Path(path).expanduser().exists():
        store = Store(
            path, busy_timeout_ms=settings.sqlite_busy_timeout_ms, max_bytes=settings.cache_max_bytes
        )
    else:
        print(json.dumps({"path": str(path), "exists": False}))
        return 0
    try:
        if args.action == "stats":
            out = store.stats()
        elif args.action == "prune":
            max_bytes = args.max_bytes if args.max_bytes is not None else settings.cache_max_bytes
            ttl = args.job_ttl if args.job_ttl is not None else settings.job_ttl_seconds
            out = {"path": str(store.path), **store.prune(max_bytes=max_bytes, job_ttl_seconds=ttl)}
        else:
            out = {"path": str(store.path), "deleted": store.clear()}
    finally:
        store.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0
