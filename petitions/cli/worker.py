"""``flask --app app worker``: an rq worker for the service's queue, with the relay beside it.

The worker outlives Redis: while Redis does not answer it waits, saying so, with a growing pause,
and takes up the queue again when Redis is back. Nothing is lost meanwhile: the work is in the
database, and the relay offers whatever is due again once Redis answers.
"""

import logging
import threading
import time

import click
import redis
from flask import current_app
from flask.cli import with_appcontext
from rq import SimpleWorker

from petitions.config import settings_of
from petitions.jobs import runner
from petitions.jobs.dispatch import RELAY_INTERVAL, dispatcher_of, housekeeping, log, relay_once
from petitions.outbox import smtp

# The longest pause between two tries at reaching Redis.
MAX_WAIT = 30.0


def _work_until_stopped(dispatcher, burst: bool) -> None:
    """Run rq's worker; while Redis does not answer, wait and try again (a burst run fails)."""
    wait = 1.0
    while True:
        # SimpleWorker runs jobs in this process: no fork per job (fast, and the database pool
        # is not shared across a fork); a job's death takes the process, and the lease covers
        # that.
        try:
            worker = SimpleWorker([dispatcher.queue], connection=dispatcher.connection)
            worker.work(burst=burst, with_scheduler=False)
            return
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if burst:
                raise click.ClickException(f"Redis does not answer: {exc}") from None
            log.warning(
                "waiting for Redis, which does not answer (%s); trying again in %.0f s", exc, wait
            )
            time.sleep(wait)
            wait = min(wait * 2, MAX_WAIT)


def _relay_forever(app, dispatcher) -> None:
    while True:
        try:
            with app.app_context():
                relay_once(app, dispatcher)
                housekeeping(app)
        except Exception:
            log.exception("relay round failed; trying again")
        time.sleep(RELAY_INTERVAL)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (for scripts).")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run jobs from the rq queue and re-offer work that is due (needs REDIS_URL).

    rq's own tools see the queue, named 'petitions': `rq info --url $REDIS_URL`.
    """
    # What each batch did and where its time went, beside rq's own line for each job.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s"
    )
    app = current_app._get_current_object()
    if not settings_of(app).redis_url:
        raise click.ClickException(
            "REDIS_URL is not set: without Redis the web process runs jobs itself"
        )
    dispatcher = dispatcher_of(app)
    runner.use_app(app)
    relay_once(app, dispatcher)
    if not burst:
        threading.Thread(
            target=_relay_forever, args=(app, dispatcher), name="relay", daemon=True
        ).start()
    try:
        _work_until_stopped(dispatcher, burst)
    finally:
        smtp.close_all()
