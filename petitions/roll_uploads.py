"""Placeholder: importing a roll file uploaded in the browser (being built)."""

from collections.abc import Mapping

from sqlalchemy.engine import Engine


def run_upload(engine: Engine, settings: Mapping, upload_id: int) -> None:
    """Import the uploaded file ``upload_id`` (outbox work of kind ``roll_upload``)."""
    raise NotImplementedError
