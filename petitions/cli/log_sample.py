"""``flask --app app log sample``: a sampled audit drawn by a published head, from the database
(with the members' contact details, for scrutineers to contact) or again from an evidence pack
(the same leaves, to confirm the draw)."""

import math
from collections.abc import Iterator
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from petitions import audit
from petitions.cli.support import AUDIT_ACTOR, needs_schema
from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.transparency import confidence, evidence, sample_list, sampling


@click.command("sample")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--slug", help="Draw from this petition's log in the database instead of a FILE.")
@click.option("--size", type=int, required=True, help="How many counted signatures to draw.")
@click.option(
    "--head-size",
    type=int,
    help="Draw under the signed head of this size (default: the newest signed head).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="With --slug: write the list here (default: SLUG-sample-HEADSIZE.csv).",
)
@click.option(
    "--found",
    type=click.IntRange(min=0),
    help="How many of the drawn signatures proved false: prints the bound for that many.",
)
@with_appcontext
def sample_command(
    file: Path | None,
    slug: str | None,
    size: int,
    head_size: int | None,
    out: Path | None,
    found: int | None,
) -> None:
    """Draw SIZE counted signatures by lot, the lot fixed by a signed head's root hash, for
    scrutineers to contact outside the service; FILE is an evidence pack, to redo a draw.

    With --slug, writes the drawn signatures with each member's contact details as on the roll
    to a CSV file and records the draw (not the list) in the audit trail.
    """
    if (file is None) == (slug is None):
        raise click.UsageError("give either an evidence pack FILE or --slug SLUG")
    if out is not None and file is not None:
        raise click.UsageError(
            "--out goes with --slug: an evidence pack names no members (the leaf indices are "
            "printed)"
        )
    try:
        if slug is not None:
            drawn, written = _sample_slug(slug, size, head_size, out, found)
        else:
            drawn, written = _sample_pack(file, size, head_size), None
            _check_found(found, drawn)
    except ValueError as exc:  # a SampleError, or a file that is not an evidence pack
        raise click.ClickException(str(exc)) from None
    _echo_draw(drawn)
    if written is not None:
        click.echo(
            f"wrote the {len(drawn.drawn)} drawn signatures with their members' contact details "
            f"to {written}"
        )
    _echo_bounds(drawn, found)


def _check_found(found: int | None, drawn: sampling.Sample) -> None:
    if found is not None and found > len(drawn.drawn):
        raise click.UsageError(f"--found {found}: only {len(drawn.drawn)} signatures were drawn")


def _pack_leaves(path: Path):
    def leaves() -> Iterator[tuple[int, bytes]]:
        with path.open(encoding="utf-8") as lines:
            yield from evidence.read(lines)[1]

    return leaves


def _sample_pack(path: Path, size: int, head_size: int | None) -> sampling.Sample:
    with path.open(encoding="utf-8") as lines:
        header, _leaves = evidence.read(lines)
    return sampling.sample(header, _pack_leaves(path), size, head_size)


@needs_schema
def _sample_slug(
    slug: str, size: int, head_size: int | None, out: Path | None, found: int | None
) -> tuple[sampling.Sample, Path]:
    session = flask_db.session()
    petition = rules.find_petition(session, slug)
    if petition is None:
        raise click.ClickException(f"there is no petition {slug!r}")
    header = evidence.header(session, petition, settings_of(current_app))
    # The live count moves while the leaves are read on an open petition, and the draw depends
    # only on the head; `log verify --slug` is where the count is compared.
    header["petition"].pop("count")
    drawn = sampling.sample(
        header, lambda: evidence.stored_leaves(session, petition), size, head_size
    )
    _check_found(found, drawn)
    members = sample_list.contacts(
        session, petition.log_secret, {leaf.commitment for leaf in drawn.drawn}
    )
    path = out or Path(f"{slug}-sample-{drawn.head['size']}.csv")
    try:
        target = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with target:
        # Recorded before the list exists, so no list is ever made unrecorded.
        audit.record(
            session,
            AUDIT_ACTOR,
            sample_list.AUDIT_ACTION,
            petition,
            f"drew {len(drawn.drawn)} of {drawn.counted} counted signatures (asked {size}) "
            f"under the head of size {drawn.head['size']}, root {drawn.head['root_hash']}",
        )
        session.commit()
        sample_list.write(drawn, members, target)
    return drawn, path


def _echo_draw(drawn: sampling.Sample) -> None:
    head = drawn.head
    click.echo(
        f"head: size {head['size']}, root hash {head['root_hash']}, signed {head['timestamp']}"
    )
    click.echo(
        f"counted signatures as of that head: {drawn.counted} "
        f"({drawn.cancelled} cancelled by invalidation or withdrawal)"
    )
    if drawn.everything and drawn.asked > drawn.counted:
        click.echo(
            f"asked for {drawn.asked}, but only {drawn.counted} signatures count: all are drawn"
        )
    click.echo(
        f"drawn: {len(drawn.drawn)} of {drawn.counted}, in order of SHA-256(root hash || leaf "
        "index as 8 bytes)"
    )
    click.echo("leaf indices in the order drawn: " + " ".join(map(str, drawn.indices)))


def _bound_line(drawn: sampling.Sample, found: int) -> str:
    size = len(drawn.drawn)
    bound = confidence.upper_bound(found, size)
    valid = math.floor(drawn.counted * (1 - bound))
    line = (
        f"if {found} of the {size} prove false: with 95% confidence at most {bound:.2%} of "
        f"the counted signatures are false (exact one-sided Clopper-Pearson bound), so at "
        f"least {valid} of the {drawn.counted} are genuine"
    )
    if drawn.threshold is None:
        return line
    if valid > drawn.threshold:
        return line + (
            f"; even at the bound, the count exceeds the threshold of {drawn.threshold} by "
            f"{valid - drawn.threshold}"
        )
    if valid == drawn.threshold:
        return line + f"; even at the bound, the count meets the threshold of {drawn.threshold}"
    return line + (
        f"; at the bound, the count could be {drawn.threshold - valid} short of the threshold "
        f"of {drawn.threshold}: this sample cannot show it is met (a larger one may)"
    )


def _echo_bounds(drawn: sampling.Sample, found: int | None) -> None:
    size = len(drawn.drawn)
    if drawn.everything:
        click.echo(
            "every counted signature is drawn: contacting them all is a full check, not a "
            "sample, and the share of false signatures is what it finds"
        )
        return
    click.echo(_bound_line(drawn, 0))
    click.echo(f"(rule of three: about 3/{size} = {confidence.rule_of_three(size):.2%})")
    if found is not None and found > 0:
        click.echo(_bound_line(drawn, found))
    elif found is None:
        click.echo("if K of them prove false, add --found K for the bound with K")
