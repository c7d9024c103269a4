"""Every test in this folder drives Chromium: marked ``browser`` so that ``-m "not browser"``
leaves them out."""

import pytest


def pytest_collection_modifyitems(items):
    """Mark the tests collected from this folder."""
    for item in items:
        if "/tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)
