"""Answers in the format asked: format negotiation (``formats``), a result read as a grid (``views``),
CSV (``tables``), figures (``plotting``, ``figures`` with their smooth theory, ``figure_cost``,
``figure_cache``), and ``respond``, which picks among them."""
