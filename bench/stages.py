"""Where the workers' time went: the one line each batch logs (petitions.outbox.work,
petitions.signatures.signing, petitions.outbox.mail), added up from the workers' log files.

    sign_request batch of 50: claim 3.1 ms, work 41.0 ms
    sign request batch: 0 to try again; decide, compose and commit 30.2 ms
    mail batch of 50: claim 2.9 ms, work 80.3 ms
    mail batch: 50 sent, 0 failed, 0 to try again; render 20.1 ms, send 50.2 ms, record 6.0 ms
"""

import re
from collections import Counter
from pathlib import Path

_CLAIM = re.compile(r"(sign_request|mail) batch of (\d+): claim ([\d.]+) ms, work ([\d.]+) ms")
_ANSWER = re.compile(r"decide, compose and commit ([\d.]+) ms")
_SEND = re.compile(r"render ([\d.]+) ms, send ([\d.]+) ms, record ([\d.]+) ms")


def read(logs: dict[Path, int]) -> Counter:
    """The totals in the worker logs ``logs`` (each read from the given offset): batches and
    rows per kind, and milliseconds per stage."""
    totals: Counter = Counter()
    for path, offset in logs.items():
        with path.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                if found := _CLAIM.search(line):
                    kind = found[1]
                    totals[f"{kind} batches"] += 1
                    totals[f"{kind} rows"] += int(found[2])
                    totals[f"{kind} claim"] += float(found[3])
                    totals[f"{kind} work"] += float(found[4])
                elif found := _ANSWER.search(line):
                    totals["decide, compose, commit"] += float(found[1])
                elif found := _SEND.search(line):
                    totals["render"] += float(found[1])
                    totals["send"] += float(found[2])
                    totals["record"] += float(found[3])
    return totals


def describe(totals: Counter) -> list[str]:
    """Lines for a run's report: per kind, batches and their mean size, and milliseconds per
    row in each stage."""
    lines = []
    for kind, stages in (
        (
            "sign_request",
            (("claim", "sign_request claim"), ("decide+compose+commit", "decide, compose, commit")),
        ),
        (
            "mail",
            (("claim", "mail claim"), ("render", "render"), ("send", "send"), ("record", "record")),
        ),
    ):
        rows = totals[f"{kind} rows"]
        batches = totals[f"{kind} batches"]
        if not rows:
            lines.append(f"{kind}: no batches logged")
            continue
        per_row = ", ".join(f"{name} {totals[key] / rows:.2f}" for name, key in stages)
        lines.append(
            f"{kind}: {rows} rows in {batches} batches (mean {rows / batches:.1f}); "
            f"ms per row: {per_row}"
        )
    return lines
