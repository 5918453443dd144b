"""The work behind a request: normal form and key (``prepare``), limits and time estimates (``limits``),
the flow from store to computation (``pipeline``), the engine adapter (``compute``), the thread pool
with single flight (``runner``), asynchronous jobs (``jobs``), per-key accounting (``keys``) and the
optional Dask cluster (``cluster``). Knows nothing of HTTP beyond the error types it raises."""
