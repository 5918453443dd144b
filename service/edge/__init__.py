"""The HTTP edge: what sits between a socket and the routes (authentication, request bounds, access
log, metrics) and the served OpenAPI schema. Nothing here computes."""
