"""The ``srf`` command: a front end over the service's request models, like the HTTP routes."""
