"""gunicorn settings read by the Procfile's web process (gunicorn reads ./gunicorn.conf.py)."""

import os


def when_ready(server) -> None:
    """Say loudly when development settings listen beyond this machine."""
    if (os.environ.get("PETITIONS_ENV") or "development").strip() == "production":
        return
    from petitions.web.dev import exposure_warning

    for bind in server.cfg.bind:
        host = "localhost" if bind.startswith(("unix:", "fd://")) else bind.rsplit(":", 1)[0]
        warning = exposure_warning(host)
        if warning:
            server.log.warning(warning)
