"""Engine version: part of every cache key, so bump it whenever a result could change."""

ENGINE_VERSION = "1.2.1"
