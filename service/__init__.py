"""HTTP service for srf_engine: ``uvicorn service.app:app`` (contract: docs/api.md).

Modules, one job each: ``settings`` (SRF_* environment), ``schemas`` (request/response models),
``prepare`` (normal form, key, engine inputs: once per request), ``compute`` (the engine adapter),
``pipeline`` (store, limits, runner, jobs, envelope; shared with the CLI), ``limits`` (413 / sync-time
checks), ``cache`` (SQLite store of results and jobs), ``runner`` (off-loop execution,
single flight, capacity), ``jobs`` (``Prefer: respond-async``), ``formats`` (406, figure options),
``views`` (a body as a grid), ``tables`` (CSV), ``plotting`` (PNG, SVG, PDF), ``figures`` (a
figure with its smooth theory), ``figure_cache``, ``respond`` (the answer in the format asked), ``errors`` and
``logs`` (error bodies, one JSON log line per request), ``routers`` (HTTP only), ``app`` (assembly),
``cli`` (the ``srf`` command).
"""
