"""The embedded SQLite store: results, jobs and drawn figures, shared by processes (``sqlite``)."""
