"""HTTP service for srf_engine: ``uvicorn service.app:app`` (contract: ../shared/API.md).

Modules, one job each: ``settings`` (SRF_* environment), ``schemas`` (request/response models),
``canonical`` (cache keys), ``compute`` (the maths, via srf_engine; shared with the CLI), ``limits``
(413 / sync-time checks), ``cache`` (SQLite store of results and jobs), ``runner`` (off-loop execution,
single flight, capacity), ``jobs`` (``Prefer: respond-async``), ``plotting`` (PNG), ``errors`` and
``logs`` (error bodies, one JSON log line per request), ``routers`` (the endpoints), ``app`` (assembly).
"""
