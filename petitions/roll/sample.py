"""A made-up membership roll, for the demo and for benchmarks: realistic shape, no real people."""

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TextIO

from petitions.db.models import MemberStatus

REGIONS = ("North", "South", "East", "West", "Central", "Islands")
_FIRST = ("Alex", "Sam", "Jo", "Priya", "Chen", "Fatima", "Olu", "Marta", "Iain", "Zoë", "Aled")
_LAST = ("Smith", "Jones", "Khan", "Nowak", "O'Brien", "Okafor", "García", "Evans", "Li", "Roy")
_DOMAINS = ("example.org", "example.com", "example.net", "gmail.com", "outlook.com")
HEADER = ("member_id", "email", "name", "region", "status", "joined_on")


def sample_rows(count: int, seed: int = 1) -> Iterator[tuple[str, ...]]:
    """``count`` roll rows: mostly active members, some lapsed or suspended, a few households."""
    rng = random.Random(seed)
    start = date(2000, 1, 1)
    for number in range(1, count + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        household = number > 1 and rng.random() < 0.02
        mailbox = f"member{number - 1 if household else number}"
        status = rng.choices(
            (MemberStatus.ACTIVE, MemberStatus.LAPSED, MemberStatus.SUSPENDED), (90, 8, 2)
        )[0]
        yield (
            f"M{number:07d}",
            f"{mailbox}@{_DOMAINS[(number - household) % len(_DOMAINS)]}",
            f"{first} {last}",
            rng.choice(REGIONS),
            status,
            (start + timedelta(days=rng.randrange(9000))).isoformat(),
        )


def write_sample_roll(out: TextIO, count: int, seed: int = 1) -> None:
    """Write a sample roll of ``count`` members as CSV to ``out``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(sample_rows(count, seed))
