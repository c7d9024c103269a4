"""A service with some history to purge: a roll imported (with a rejected line), members who
asked to sign and confirmed from a known client address, an organiser who signed in by mail,
invitations, and one petition closed while another stays open."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from petitions.accounts import users
from petitions.db import flask_db
from petitions.db.models import Invitation, InvitationRun, Member, Petition
from petitions.jobs.dispatch import housekeeping
from petitions.lifecycle import rules
from tests.helpers import link_in, open_petition, sent_mail, sign_in_link_in, token_of

CLIENT_IPV4 = "203.0.113.77"
CLIENT_IPV6 = "2001:db8:1:2:3:4:5:6"
ORGANISER = "organiser@example.org"
ROLL = [(f"M{n:03d}", f"m{n}@example.org", f"Member Number{n}") for n in range(1, 9)]
SIGNERS_CLOSED = ["M001", "M002", "M003", "M004", "M005"]
SIGNERS_OPEN = ["M006", "M007"]


@dataclass
class History:
    roll: Path


def from_ip(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def ask_and_confirm(app, client, worker, slug: str, email: str, address: str) -> None:
    """Ask to sign on the form from ``address``, and confirm with the mailed link."""
    asked = client.post(f"/p/{slug}/sign", data={"email": email}, **from_ip(address))
    assert asked.status_code == 303
    worker.run_pending()
    link = link_in(sent_mail(app, email)[-1].text_body)
    opened = client.get("/" + link.split("/", 3)[3], **from_ip(address))
    assert opened.status_code == 200
    confirmed = client.post(
        f"/p/{slug}/confirm", data={"token": token_of(link)}, **from_ip(address)
    )
    assert confirmed.status_code == 200, confirmed.get_data(as_text=True)


def sign_in_by_mail(app, client, worker, address: str) -> None:
    """Ask for a sign-in link from ``address`` and use it."""
    with Session(flask_db.engine_of(app)) as session:
        users.add_user(session, ORGANISER, "organiser")
        session.commit()
    assert client.post("/sign-in", data={"email": ORGANISER}, **from_ip(address)).status_code == 303
    worker.run_pending()
    token = sign_in_link_in(sent_mail(app, ORGANISER)[-1].text_body)
    used = client.post("/sign-in/link", data={"token": token}, **from_ip(address))
    assert used.status_code == 303


def make(app, client, worker, runner, tmp_path) -> History:
    """Build the history; petition "vote" is closed now, "later" stays open."""
    roll = tmp_path / "roll.csv"
    lines = ["member_id,email,name,status"]
    lines += [f"{number},{email},{name},active" for number, email, name in ROLL]
    lines.append("M999,not an address,Rejected Person,active")
    roll.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported = runner.invoke(args=["roll", "import", str(roll)])
    assert imported.exit_code == 0, imported.output
    open_petition(app, "vote", threshold=4)
    open_petition(app, "later", threshold=4)
    emails = {number: email for number, email, _ in ROLL}
    for number in SIGNERS_CLOSED:
        ask_and_confirm(app, client, worker, "vote", emails[number], CLIENT_IPV4)
    for number in SIGNERS_OPEN:
        ask_and_confirm(app, client, worker, "later", emails[number], CLIENT_IPV6)
    sign_in_by_mail(app, client, worker, CLIENT_IPV4)
    _invite(app, {"vote": "M008", "later": "M008"})
    housekeeping(app)
    with Session(flask_db.engine_of(app)) as session:
        rules.close_petition(session, "vote")
        session.commit()
    housekeeping(app)
    return History(roll)


def _invite(app, invited: dict[str, str]) -> None:
    with Session(flask_db.engine_of(app)) as session:
        for slug, number in invited.items():
            petition = session.exec(select(Petition).where(Petition.slug == slug)).one()
            member = session.exec(select(Member).where(Member.number == number)).one()
            run = InvitationRun(petition_id=petition.id, rate_per_minute=60, started_by=ORGANISER)
            session.add(run)
            session.flush()
            session.add(Invitation(run_id=run.id, petition_id=petition.id, member_id=member.id))
        session.commit()


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, in order: to compare a database before and after."""
    rows = {}
    with flask_db.engine_of(app).connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            query = sa_select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(query)]
    return rows
