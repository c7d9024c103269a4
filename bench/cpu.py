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
from collections import Counter
from collections.abc import Mapping

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis"}


def _processes():
    """(name, process group, CPU ticks) of every process this user may read."""
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
            yield name, int(fields[2]), int(fields[11]) + int(fields[12])


def used(groups: Mapping[str, list[int]]) -> Counter:
    """CPU seconds used so far by each part of the service: ``groups`` names the process groups
    of each part started here (say {"web": [pgid], "workers": [pgid, pgid]}); PostgreSQL and
    Redis are found by their process names."""
    part_of = {group: part for part, members in groups.items() for group in members}
    seconds: Counter = Counter(dict.fromkeys((*groups, *SERVERS.values()), 0.0))
    for name, group, ticks in _processes():
        part = part_of.get(group) or SERVERS.get(name)
        if part is not None:
            seconds[part] += ticks / CLOCK_TICKS
    return seconds


def per_item(before: Counter, after: Counter, items: int) -> dict[str, float]:
    """Milliseconds of CPU per item (say, per member who arrived) of each part between two
    readings of used()."""
    if items <= 0:
        return {}
    return {part: (after[part] - before[part]) * 1000 / items for part in after}
