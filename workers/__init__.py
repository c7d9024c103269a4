"""Background work: rq job functions, queue setup and the outbox relay. Thin: they call into
the ``petitions`` package, which holds every rule."""
