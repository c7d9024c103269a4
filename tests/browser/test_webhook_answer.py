"""The ballot system's answer on the scrutiny page: kept to 2 KiB, shown as text (a script in
it does not run), wrapped to fit a phone, and accessible."""

import pytest

from tests.browser_support import (
    DESKTOP,
    PHONE,
    axe_problems,
    page_in_context,
    served,
    session_cookie,
)
from tests.helpers import configure, sign_in
from tests.outbox.test_webhooks import SECRET, the_delivery, trigger
from tests.receiver import Answer, Receiver

HOSTILE = '{"error": "<script>document.title = \'ran\'</script>"}' + " no ballot yet" * 400


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this is about the page, not the backend."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def answered(app, client, worker):
    """A petition past its threshold whose ballot system answered with markup, at length."""
    with Receiver(SECRET, default=Answer(200, HOSTILE)) as ballot:
        configure(app, ballot_webhook_url=ballot.url)
        trigger(app, client)
        worker.run_pending()
    assert the_delivery(app).outcome == "delivered"
    return app


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_the_answer_is_shown_as_text_that_fits(browser, answered, tmp_path, size, viewport):
    client = answered.test_client()
    sign_in(answered, client, "sue@example.org", "scrutineer")
    with (
        served(answered) as base,
        page_in_context(browser, viewport=viewport, bypass_csp=True) as (page, errors),
    ):
        page.context.add_cookies([session_cookie(client, base)])
        page.goto(f"{base}/scrutiny/p/vote")
        answer = page.locator("pre.scrutiny-answer")
        assert "<script>document.title" in answer.inner_text()
        assert "[cut: only the first 2,048 bytes of the answer are kept]" in answer.inner_text()
        assert page.title() != "ran"
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
        page.screenshot(path=str(tmp_path / f"answer-{size}.png"), full_page=True)
        assert axe_problems(page) == []
    assert errors == []
