"""``flask --app app demo``: the embedded default with a sample roll and an open petition."""

import hashlib
import hmac
import threading
import time
from pathlib import Path

import click
import requests
from flask import current_app, request
from flask.cli import with_appcontext
from sqlalchemy import func
from sqlmodel import Session, select
from werkzeug.serving import run_simple

from petitions import config
from petitions.accounts import users
from petitions.config import settings_of
from petitions.db import flask_db, schema
from petitions.db.engine import session_scope
from petitions.db.models import Mail, Member, MemberStatus, Role, Signature
from petitions.lifecycle import rules
from petitions.outbox.mail import MailPurpose
from petitions.roll.importer import import_roll
from petitions.roll.sample import write_sample_roll
from petitions.signatures.outcomes import SigningOutcome
from petitions.transparency import roll_commitment
from petitions.web import dev, rate_limits

DEMO_SLUG = "demo"
DEMO_ORGANISER = "organiser@example.org"
DEMO_SCRUTINEER = "scrutineer@example.org"
DEMO_TEXT = (
    "We, the undersigned members, call for a ballot of all members on the motion below, as "
    "the constitution allows once enough members in good standing have signed.\n\n"
    "Motion: that the organisation publishes its accounts to members every quarter."
)


def prepare_demo(
    engine, instance: Path, members: int, threshold: int, settings: config.Settings
) -> list[str]:
    """Create the schema, a sample roll and the open demo petition where they are missing.

    Returns what was done, a line each; running it again on a prepared database does nothing.
    """
    done = []
    schema.upgrade(engine)
    with session_scope(engine) as session:
        on_roll = session.scalar(select(func.count()).select_from(Member))
    if not on_roll:
        instance.mkdir(parents=True, exist_ok=True)
        roll = instance / "sample_roll.csv"
        with roll.open("w", encoding="utf-8") as out:
            write_sample_roll(out, members)
        with roll.open("rb") as source:
            report = import_roll(engine, source, roll.name)
        done.append(f"imported a sample roll of {report.counts['added']:,} members from {roll}")
    with session_scope(engine) as session:
        if rules.find_petition(session, DEMO_SLUG) is None:
            rules.create_petition(
                session,
                slug=DEMO_SLUG,
                title="Quarterly accounts for members",
                body=DEMO_TEXT,
                threshold=threshold,
            )
            petition = rules.open_petition(
                session,
                DEMO_SLUG,
                commit_roll=roll_commitment.committer(settings, "demo"),
            )
            done.append(
                f"opened the petition '{DEMO_SLUG}' with a threshold of {petition.threshold} "
                f"({petition.eligible_members:,} active members)"
            )
    with session_scope(engine) as session:
        for email, role in ((DEMO_ORGANISER, Role.ORGANISER), (DEMO_SCRUTINEER, Role.SCRUTINEER)):
            if users.find_by_address_key(session, email) is None:
                users.add_user(session, email, role)
                done.append(f"added the {role} account {email}")
    return done


# The simulated members all sign from this machine, one network: the per-network limits would
# stop them after a few dozen. Their requests carry this header, with a value made from
# SECRET_KEY (which a second `demo --simulate` process reads from the same instance/), and the
# demo's server does not count them against the limits; everyone else's requests it counts.
SIMULATION_HEADER = "X-Demo-Simulation"


def simulation_token(secret_key: str) -> str:
    """The value of SIMULATION_HEADER for the demo run with ``secret_key``."""
    return hmac.new(secret_key.encode(), b"demo simulation", hashlib.sha256).hexdigest()


def let_simulation_through(app) -> None:
    """Exempt the demo's simulated members (requests with the SIMULATION_HEADER made from
    ``app``'s SECRET_KEY) from ``app``'s rate limits."""
    expected = simulation_token(settings_of(app).secret_key)

    def simulated() -> bool:
        given = request.headers.get(SIMULATION_HEADER, "")
        return hmac.compare_digest(given.encode(), expected.encode())

    rate_limits.limiter_of(app).request_filter(simulated)


def running_demo(base: str) -> bool:
    """True when a petitions server already answers at ``base`` (a `make demo` running)."""
    try:
        return requests.get(f"{base}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def _simulate(engine, base: str, count: int, pause: float, secret_key: str) -> None:
    """Sign ``count`` sample members through the running service, as members would: ask to
    sign, find the link in the dev mailbox, confirm it."""
    with Session(engine) as session:
        signed = select(Signature.member_id)
        members = session.exec(
            select(Member)
            .where(Member.status == MemberStatus.ACTIVE, Member.id.not_in(signed))
            .order_by(Member.id)
            .limit(count * 2)
        ).all()
    seen_keys: set[str] = set()
    chosen = [m for m in members if not (m.email_key in seen_keys or seen_keys.add(m.email_key))]
    http = requests.Session()
    http.headers[SIMULATION_HEADER] = simulation_token(secret_key)
    confirmed = 0
    for member in chosen[:count]:
        http.post(
            f"{base}/api/v1/petitions/{DEMO_SLUG}/signatures",
            json={"email": member.email},
            timeout=10,
        )
        link = _await_link(engine, member.email)
        if link is not None:
            token = link.split("token=", 1)[1]
            answer = http.post(
                f"{base}/api/v1/signatures/confirm", json={"token": token}, timeout=10
            )
            confirmed += answer.ok and answer.json().get("status") == SigningOutcome.CONFIRMED
        time.sleep(pause)
    # A member who shares an address with another on the roll gets no link without their
    # membership number, as a real one would; the simulation leaves those out.
    click.echo(f"simulation: {confirmed} of {len(chosen[:count])} sample members have signed")


def _await_link(engine, address: str, patience: float = 10.0) -> str | None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with Session(engine) as session:
            mail = session.exec(
                select(Mail)
                .where(Mail.to_address == address, Mail.purpose == MailPurpose.CONFIRM_LINK)
                .order_by(Mail.id.desc())
            ).first()
        if mail is not None:
            for line in mail.text_body.splitlines():
                if "/confirm?token=" in line:
                    return line.strip()
        time.sleep(0.1)
    return None


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to serve on.")
@click.option("--members", default=5000, show_default=True, type=click.IntRange(1))
@click.option("--threshold", default=25, show_default=True, type=click.IntRange(1))
@click.option(
    "--simulate",
    default=0,
    type=click.IntRange(0, 5000),
    help="Sign this many sample members in the background, one every --pace seconds.",
)
@click.option("--pace", default=0.5, show_default=True, type=click.FloatRange(0, 60))
@with_appcontext
def demo_command(
    host: str, port: int, members: int, threshold: int, simulate: int, pace: float
) -> None:
    """Serve the service locally on the embedded default, with a sample roll of --members
    members and an open petition with a small --threshold, made on first run and kept.

    With --simulate N, N sample members sign through the running service, so the count can be
    watched crossing the threshold and the webhook arriving at the dev receiver. When a demo
    already runs on --host and --port (`make demo` in another terminal), its members sign
    through that one and the command ends when they have; otherwise it serves as well."""
    app = current_app._get_current_object()
    if settings_of(app).production:
        raise click.ClickException("the demo is for development; unset PETITIONS_ENV=production")
    base = f"http://{host}:{port}"
    if simulate and running_demo(base):
        click.echo(f"a demo is running at {base}: {simulate} sample members sign there")
        secret_key = settings_of(app).secret_key
        _simulate(flask_db.engine(), base, simulate, pace, secret_key)
        return
    warning = dev.exposure_warning(host)
    if warning:
        click.secho(warning, fg="red", bold=True, err=True)
    for line in prepare_demo(
        flask_db.engine(), Path(app.instance_path), members, threshold, settings_of(app)
    ):
        click.echo(line)
    if settings_of(app).base_url != base:
        # The links in the dev mailbox must point at the server the demo runs.
        config.keep(app, settings_of(app).replace(base_url=base))
    click.echo(f"database: {flask_db.engine().url.render_as_string(hide_password=True)}")
    click.echo(f"petitions:     {base}/")
    click.echo(f"demo petition: {base}/p/{DEMO_SLUG}")
    click.echo(f"its JSON:      {base}/api/v1/petitions/{DEMO_SLUG}")
    click.echo(f"dev mailbox:   {base}/dev/mail")
    click.echo(f"dev receiver:  {base}/dev/webhooks (the threshold webhook arrives here)")
    click.echo(
        f"sign in:       {base}/sign-in as {DEMO_ORGANISER} or {DEMO_SCRUTINEER}; "
        "the link arrives in the dev mailbox"
    )
    let_simulation_through(app)
    if simulate:
        threading.Thread(
            target=_simulate,
            args=(flask_db.engine(), base, simulate, pace, settings_of(app).secret_key),
            name="demo-simulation",
            daemon=True,
        ).start()
    # app.run() refuses to start inside a `flask` command; the same server, called directly.
    run_simple(host, port, app, threaded=True)
