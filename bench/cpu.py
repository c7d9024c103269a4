"""Where a benchmark step's CPU went, by part of the service: the CPU seconds used so far by the
web processes, the rq workers, PostgreSQL and Redis, read from /proc.

Each service process is started in a process group of its own (bench/service.py), which its
children share: gunicorn's workers are counted with their master. PostgreSQL and Redis are
counted whole (every process named postgres or redis-server), so other work on the same servers
is counted with them. Without /proc (not Linux) every figure is 0.

Imported as `bench.cpu` by scripts that have put the repository root on sys.path (see
bench/common.py).
"""

import os
from collections.abc import Mapping

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis"}


def _processes():
    """(pid, name, process group, CPU ticks) of every process this user may read."""
    try:
        entries = os.scandir("/proc")
    except OSError:
        return
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                    line = stat.read()
            except OSError:
                continue
            # The name is in parentheses and may hold spaces; the fields after it are numbers.
            name = line[line.index("(") + 1 : line.rindex(")")]
            fields = line[line.rindex(")") + 2 :].split()
            yield int(entry.name), name, int(fields[2]), int(fields[11]) + int(fields[12])


Reading = dict[int, tuple[str, float]]
"""Each process's part of the service and the CPU seconds it has used, by pid."""


def used(groups: Mapping[str, list[int]]) -> Reading:
    """The CPU seconds each process of the service has used so far: ``groups`` names the
    process groups of each part started here (say {"web": [pgid], "workers": [pgid, pgid]});
    PostgreSQL and Redis are found by their process names."""
    part_of = {group: part for part, members in groups.items() for group in members}
    reading: Reading = {}
    for pid, name, group, ticks in _processes():
        part = part_of.get(group) or SERVERS.get(name)
        if part is not None:
            reading[pid] = (part, ticks / CLOCK_TICKS)
    return reading


def per_item(before: Reading, after: Reading, parts: list[str], items: int) -> dict[str, float]:
    """Milliseconds of CPU per item (say, per member who arrived) of each of ``parts`` between
    two readings: what each process used in between, or since it started if it started in
    between. What a process used before it ended is not seen (PostgreSQL's backends outlive a
    step, being pooled)."""
    if items <= 0:
        return {}
    milliseconds = dict.fromkeys(parts, 0.0)
    for pid, (part, seconds) in after.items():
        earlier = before.get(pid)
        since = seconds - earlier[1] if earlier is not None and earlier[0] == part else seconds
        milliseconds[part] = milliseconds.get(part, 0.0) + max(0.0, since) * 1000
    return {part: total / items for part, total in milliseconds.items()}
