"""Suite-wide hooks.

In CI (``CI=true``), a skipped browser test fails the run: a test that drives Chromium checks
nothing when it is skipped, and CI installs Chromium (``.ci/run``) precisely so that it runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    xfailed = hasattr(report, "wasxfail")  # an expected failure is reported as skipped: it ran
    if report.skipped and not xfailed and in_ci() and item.get_closest_marker("browser") is not None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"browser test skipped in CI (CI=true), which counts as a failure: {reason}"
