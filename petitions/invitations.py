"""Placeholder: invitation mailing (being built)."""

from collections.abc import Mapping

from sqlalchemy.engine import Engine


def send_batch(engine: Engine, settings: Mapping, run_id: int) -> None:
    """Send the next batch of invitation run ``run_id`` (outbox work of kind ``invitation_run``)."""
    raise NotImplementedError
