"""The rq job that queued work names (``workers.jobs.run``): one try at one row of outbox work.
What it does lives in petitions.jobs."""

from petitions.jobs.runner import run_job


def run(kind: str, row_id: int, attempts: int) -> bool:
    """Do try ``attempts + 1`` of the ``kind`` row ``row_id``."""
    return run_job(kind, row_id, attempts)
