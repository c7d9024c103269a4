"""`log sample`: a draw of counted signatures that a published head fixes, from the database
with the members' contact details or again from an evidence pack, and what it says."""

import base64
import csv
import hashlib
import json
from datetime import UTC, datetime
from fractions import Fraction
from math import comb

import pytest
from sqlmodel import Session, select

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.models import AuditEvent, LogLeaf, Member, TreeHead
from petitions.jobs.dispatch import housekeeping
from petitions.signatures import invalidation, withdrawal
from petitions.transparency import confidence, merkle, recount, sample_list, sampling
from petitions.transparency import leaves as log_leaves
from tests.helpers import open_petition, petition
from tests.transparency.test_store import confirm

ROLL = [
    (f"M{n:03d}", f"m{n}@example.org", f"Member {n}", "North" if n % 2 else "South")
    for n in range(1, 31)
]
SIGNERS = [row[0] for row in ROLL[:20]]
WITHDRAWN = ("M004", "M011")  # leaves 3 and 10
INVALIDATED = ("M007", "M015")  # leaves 6 and 14: signatures 7 and 15
CANCELLED_LEAVES = {3, 6, 10, 14}


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """Lists written under their default name land in the test's own folder."""
    monkeypatch.chdir(tmp_path)


def roll_text(rows) -> str:
    """A roll file with names and regions."""
    lines = ["member_id,email,name,region"] + [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def withdraw(app, member_id: str) -> None:
    settings = settings_of(app)
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == member_id)).one()
    token = withdrawal.manage_token(settings, petition(app).id, member.id)
    outcome = withdrawal.withdraw(flask_db.engine_of(app), settings, token, "vote")
    assert outcome.outcome == withdrawal.WithdrawalOutcome.WITHDRAWN


@pytest.fixture
def signed(app, runner, tmp_path):
    """The roll (30 members with names and regions), a petition (threshold 10) with 20
    signatures, two withdrawn and two invalidated, and a signed head: 16 counted."""
    roll = tmp_path / "roll.csv"
    roll.write_text(roll_text(ROLL), encoding="utf-8")
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    open_petition(app, threshold=10)
    for member_id in SIGNERS:
        confirm(app, member_id)
    for member_id in WITHDRAWN:
        withdraw(app, member_id)
    numbers = [SIGNERS.index(member_id) + 1 for member_id in INVALIDATED]
    invalidation.invalidate(
        flask_db.engine_of(app), settings_of(app), "vote", numbers, "not_a_member", "o@x.org"
    )
    housekeeping(app)
    assert petition(app).signature_count == 16
    return roll


def sample_slug(runner, *args):
    return runner.invoke(args=["log", "sample", "--slug", "vote", *args])


def drawn_indices(output: str) -> list[int]:
    line = next(x for x in output.splitlines() if x.startswith("leaf indices in the order"))
    return [int(index) for index in line.split(":", 1)[1].split()]


def read_list(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as listed:
        return list(csv.DictReader(listed))


def export_pack(client, tmp_path, name="vote-evidence.jsonl"):
    response = client.get("/api/v1/petitions/vote/evidence")
    assert response.status_code == 200
    pack = tmp_path / name
    pack.write_bytes(response.get_data())
    return pack


def stored_log(app):
    """The stored leaves and the newest head, read directly."""
    with Session(flask_db.engine_of(app)) as session:
        leaves = session.execute(select(LogLeaf.index, LogLeaf.data).order_by(LogLeaf.index))
        head = session.scalars(select(TreeHead).order_by(TreeHead.size.desc())).first()
        return [tuple(row) for row in leaves], head.size, head.root_hash


def by_the_readme(root_hash: str, counted: list[int], size: int) -> list[int]:
    """The draw as README "A sampled audit" specifies it, written again from the text."""
    root = bytes.fromhex(root_hash)
    ordered = sorted(counted, key=lambda i: hashlib.sha256(root + i.to_bytes(8, "big")).digest())
    return ordered[:size]


def test_a_draw_lists_counted_signatures_with_their_members_contact_details(
    app, runner, signed, tmp_path
):
    out = tmp_path / "list.csv"
    result = sample_slug(runner, "--size", "5", "--out", str(out))
    assert result.exit_code == 0, result.output
    leaves, head_size, root = stored_log(app)
    assert f"head: size {head_size}, root hash {root}, signed " in result.output
    assert "counted signatures as of that head: 16 (4 cancelled" in result.output
    assert "drawn: 5 of 16" in result.output
    assert f"wrote the 5 drawn signatures with their members' contact details to {out}" in (
        result.output
    )
    counted = [i for i in range(20) if i not in CANCELLED_LEAVES]
    indices = drawn_indices(result.output)
    assert indices == by_the_readme(root, counted, 5)
    rows = read_list(out)
    assert [int(row["leaf_index"]) for row in rows] == indices
    assert [int(row["draw_order"]) for row in rows] == [1, 2, 3, 4, 5]
    by_leaf = dict(leaves)
    roll = {row[0]: row for row in ROLL}
    for row in rows:
        index = int(row["leaf_index"])
        assert int(row["entry_number"]) == index + 1
        assert row["confirmed_at"] == log_leaves.decode(by_leaf[index])["time"]
        member_id = SIGNERS[index]  # signed in roll order, one leaf each before cancellations
        assert (row["member_id"], row["email"], row["name"], row["region"]) == roll[member_id]
        assert row["status"] == "active"
        assert row["note"] == ""


def test_the_default_list_is_named_for_the_petition_and_head(app, runner, signed, tmp_path):
    result = sample_slug(runner, "--size", "3")
    assert result.exit_code == 0, result.output
    _leaves, head_size, _root = stored_log(app)
    listed = tmp_path / f"vote-sample-{head_size}.csv"
    assert len(read_list(listed)) == 3


def test_the_same_head_gives_the_same_draw_and_another_head_another(app, runner, signed, tmp_path):
    first = sample_slug(runner, "--size", "6", "--out", str(tmp_path / "a.csv"))
    again = sample_slug(runner, "--size", "6", "--out", str(tmp_path / "b.csv"))
    assert first.exit_code == again.exit_code == 0
    assert drawn_indices(first.output) == drawn_indices(again.output)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    _leaves, old_size, _root = stored_log(app)
    confirm(app, "M021")
    housekeeping(app)
    newer = sample_slug(runner, "--size", "6", "--out", str(tmp_path / "c.csv"))
    assert newer.exit_code == 0, newer.output
    assert f"head: size {old_size + 1}" in newer.output
    assert drawn_indices(newer.output) != drawn_indices(first.output)
    # The older head is still published, and still draws what it drew.
    older = sample_slug(
        runner, "--size", "6", "--head-size", str(old_size), "--out", str(tmp_path / "d.csv")
    )
    assert drawn_indices(older.output) == drawn_indices(first.output)


def test_withdrawn_and_invalidated_signatures_are_never_drawn(app, runner, signed, tmp_path):
    out = tmp_path / "all.csv"
    result = sample_slug(runner, "--size", "50", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "asked for 50, but only 16 signatures count: all are drawn" in result.output
    assert "every counted signature is drawn: contacting them all is a full check" in (
        result.output
    )
    indices = drawn_indices(result.output)
    assert len(indices) == len(set(indices)) == 16
    assert set(indices) == set(range(20)) - CANCELLED_LEAVES
    members = {row["member_id"] for row in read_list(out)}
    assert members == set(SIGNERS) - set(WITHDRAWN) - set(INVALIDATED)


def test_the_evidence_pack_redraws_the_same_leaves_without_the_database(
    app, client, runner, signed, tmp_path
):
    _leaves, old_size, _root = stored_log(app)
    confirm(app, "M021")
    housekeeping(app)
    pack = export_pack(client, tmp_path)
    from_db = {
        head: sample_slug(runner, "--size", "7", *head, "--out", str(tmp_path / "x.csv"))
        for head in [(), ("--head-size", str(old_size))]
    }
    flask_db.engine_of(app).dispose()
    for head, result in from_db.items():
        offline = runner.invoke(args=["log", "sample", str(pack), "--size", "7", *head])
        assert offline.exit_code == 0, offline.output
        assert drawn_indices(offline.output) == drawn_indices(result.output)
        assert "wrote" not in offline.output
    older = from_db[("--head-size", str(old_size))]
    assert drawn_indices(from_db[()].output) != drawn_indices(older.output)


def test_a_pack_that_does_not_verify_draws_nothing(client, runner, signed, tmp_path):
    pack = export_pack(client, tmp_path)
    lines = pack.read_text().splitlines()
    # Swap in another member's commitment: the leaves no longer give the signed root.
    entry = json.loads(lines[3])
    fields = log_leaves.decode(base64.b64decode(entry["leaf_input"]))
    fields["commitment"] = "ab" * 32
    entry["leaf_input"] = base64.b64encode(log_leaves.encode(fields)).decode()
    lines[3] = json.dumps(entry)
    pack.write_text("\n".join(lines) + "\n")
    result = runner.invoke(args=["log", "sample", str(pack), "--size", "3"])
    assert result.exit_code != 0
    assert "the log does not verify, so no draw is made from it" in result.output
    assert "the history was changed" in result.output
    assert "leaf indices" not in result.output
    assert "Traceback" not in result.output


def test_the_draw_is_recorded_in_the_audit_trail_without_the_list(app, runner, signed, tmp_path):
    result = sample_slug(runner, "--size", "4", "--out", str(tmp_path / "l.csv"))
    assert result.exit_code == 0, result.output
    _leaves, head_size, root = stored_log(app)
    with Session(flask_db.engine_of(app)) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "log.sample")).all()
    assert [(e.actor, e.petition_id) for e in events] == [("command line", petition(app).id)]
    assert events[0].detail == (
        f"drew 4 of 16 counted signatures (asked 4) under the head of size {head_size}, root {root}"
    )
    assert not any(member_id in events[0].detail for member_id in SIGNERS)


def test_the_list_runs_no_formula(app, runner, tmp_path):
    hostile = [("=1+1", '=HYPERLINK("http://x")'), ("@SUM(A1)", "+cmd"), ("-2+3", "-x")]
    roll = tmp_path / "roll.csv"
    with roll.open("w", encoding="utf-8", newline="") as written:
        rows = csv.writer(written)
        rows.writerow(["member_id", "email", "name", "region"])
        for n, (number, name) in enumerate(hostile):
            rows.writerow([number, f"h{n}@example.org", name, name])
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    open_petition(app, threshold=2)
    for number, _name in hostile:
        confirm(app, number)
    housekeeping(app)
    out = tmp_path / "list.csv"
    result = sample_slug(runner, "--size", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_list(out)
    assert sorted(row["member_id"] for row in rows) == sorted(f"'{n}" for n, _ in hostile)
    assert sorted(row["name"] for row in rows) == sorted(f"'{name}" for _, name in hostile)
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_a_signature_matching_nobody_on_the_roll_is_listed_as_such(app, runner, signed, tmp_path):
    with Session(flask_db.engine_of(app)) as session:
        member = session.exec(select(Member).where(Member.number == "M001")).one()
        member.number = "M001-renumbered"
        session.commit()
    out = tmp_path / "all.csv"
    assert sample_slug(runner, "--size", "16", "--out", str(out)).exit_code == 0
    unmatched = [row for row in read_list(out) if row["note"]]
    assert [(row["leaf_index"], row["member_id"], row["note"]) for row in unmatched] == [
        ("0", "", sample_list.NOT_ON_ROLL)
    ]


def test_the_statement_gives_the_bound_and_what_it_means_for_the_threshold(
    runner, signed, tmp_path
):
    result = sample_slug(runner, "--size", "12", "--found", "1", "--out", str(tmp_path / "s.csv"))
    assert result.exit_code == 0, result.output
    zero = confidence.upper_bound(0, 12)
    one = confidence.upper_bound(1, 12)
    assert (
        f"if 0 of the 12 prove false: with 95% confidence at most {zero:.2%} of the counted "
        "signatures are false (exact one-sided Clopper-Pearson bound), so at least "
        f"{int(16 * (1 - zero))} of the 16 are genuine" in result.output
    )
    assert "(rule of three: about 3/12 = 25.00%)" in result.output
    # 16 counted, threshold 10: with none false, at least 12 genuine; with one, at least 10.
    assert "even at the bound, the count exceeds the threshold of 10 by 2" in result.output
    assert f"if 1 of the 12 prove false: with 95% confidence at most {one:.2%}" in result.output
    assert "even at the bound, the count meets the threshold of 10\n" in result.output
    small = sample_slug(runner, "--size", "3", "--out", str(tmp_path / "t.csv"))
    assert "could be 5 short of the threshold of 10: this sample cannot show it" in small.output
    assert "add --found K for the bound with K" in small.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "vote", "--size", "0"], "the sample size must be at least 1, not 0"),
        (["--slug", "vote", "--size", "-3"], "the sample size must be at least 1, not -3"),
        (["--slug", "nope", "--size", "3"], "there is no petition 'nope'"),
        (["--slug", "vote", "--size", "3", "--head-size", "99"], "no signed head of size 99"),
        (["--slug", "vote", "--size", "3", "--found", "4"], "only 3 signatures were drawn"),
        (["--slug", "vote", "--size", "30", "--found", "17"], "only 16 signatures were drawn"),
        (["PACK", "--size", "2", "--found", "3"], "only 2 signatures were drawn"),
        (["--slug", "vote"], "Missing option '--size'"),
        (["--size", "3"], "give either an evidence pack FILE or --slug"),
        (["PACK", "--slug", "vote", "--size", "3"], "give either an evidence pack FILE"),
        (["PACK", "--size", "3", "--out", "x.csv"], "--out goes with --slug"),
        (["NOTPACK", "--size", "3"], "not an evidence pack"),
        (["PACK", "--size", "3", "--head-size", "5"], "no signed head of size 5"),
        (["--slug", "vote", "--size", "3", "--out", "NODIR/x.csv"], "cannot write"),
    ],
)
def test_bad_input_gets_a_clear_error(client, runner, signed, tmp_path, args, message):
    files = {
        "PACK": export_pack(client, tmp_path),
        "NOTPACK": tmp_path / "not.jsonl",
        "NODIR/x.csv": str(tmp_path / "missing" / "x.csv"),
    }
    files["NOTPACK"].write_text('{"format": "something else"}\n')
    result = runner.invoke(args=["log", "sample", *[str(files.get(a, a)) for a in args]])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("vote-sample-*.csv"))  # no list made


def test_a_petition_without_a_head_has_nothing_to_draw(app, runner):
    open_petition(app)
    result = sample_slug(runner, "--size", "3")
    assert result.exit_code != 0
    assert "the petition has no signed head yet" in result.output


def test_a_head_after_every_signature_was_cancelled_has_nothing_to_draw(app, runner, tmp_path):
    roll = tmp_path / "roll.csv"
    roll.write_text(roll_text(ROLL[:2]), encoding="utf-8")
    assert runner.invoke(args=["roll", "import", str(roll)]).exit_code == 0
    open_petition(app)
    confirm(app, "M001")
    withdraw(app, "M001")
    housekeeping(app)
    result = sample_slug(runner, "--size", "3")
    assert result.exit_code != 0
    assert "no signature counts as of the head of size 2: nothing to draw" in result.output


# The domain, without the command line.

KEY = "00" * 32
MOMENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _commitment(member: str) -> str:
    return log_leaves.commitment(KEY, member)


EXAMPLE = [
    log_leaves.signature_leaf(0, _commitment("A"), MOMENT),
    log_leaves.signature_leaf(1, _commitment("B"), MOMENT),
    log_leaves.signature_leaf(2, _commitment("C"), MOMENT),
    log_leaves.signature_leaf(3, _commitment("D"), MOMENT),
    log_leaves.cancelling_leaf("withdrawal", 4, _commitment("B"), 1, "member_request", MOMENT),
    log_leaves.signature_leaf(5, _commitment("E"), MOMENT),
    log_leaves.signature_leaf(6, _commitment("F"), MOMENT),
    log_leaves.cancelling_leaf("invalidation", 7, _commitment("D"), 3, "not_a_member", MOMENT),
]


def _tree_hash(leaves: list[bytes]) -> bytes:
    """RFC 6962's Merkle tree hash, by its recursive definition."""
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return merkle.node_hash(_tree_hash(leaves[:split]), _tree_hash(leaves[split:]))


def test_the_readme_worked_example():
    root = _tree_hash(EXAMPLE).hex()
    assert root == "f99976203e0709b9ecf4720b9123a4858f6084aac1cf3a04ad8deeb05e92cc4a"
    counted = sorted(recount.replay(enumerate(EXAMPLE)).counted.values())
    assert counted == [0, 2, 5, 6]
    keys = {i: sampling.sort_key(bytes.fromhex(root), i).hex()[:16] for i in counted}
    assert keys == {
        0: "5a02a964359d88d4",
        2: "b4445335a8895afe",
        5: "2ccc017d5d3f082e",
        6: "04ee853813ebfd5e",
    }
    assert sampling.draw(root, counted, 2) == [6, 5]
    assert sampling.draw(root, counted, 9) == [6, 5, 0, 2]


def test_the_draw_depends_on_nothing_but_the_root_and_the_counted_leaves():
    root = hashlib.sha256(b"a head").hexdigest()
    counted = list(range(0, 400, 3))
    drawn = sampling.draw(root, counted, 20)
    assert len(drawn) == len(set(drawn)) == 20
    assert set(drawn) <= set(counted)
    # The order the leaves come in, or a larger draw, changes nothing of the first ones.
    assert sampling.draw(root, reversed(counted), 20) == drawn
    assert sampling.draw(root, counted, 40)[:20] == drawn
    assert drawn == by_the_readme(root, counted, 20)
    # Another root draws others: about 20 * 20/134 in common by chance.
    other = sampling.draw(hashlib.sha256(b"another head").hexdigest(), counted, 20)
    assert len(set(other) & set(drawn)) < 12


def test_a_draw_chooses_the_newest_head_unless_told():
    heads = [{"size": 3, "root_hash": "aa"}, {"size": 9, "root_hash": "bb"}, "junk"]
    assert sampling.choose_head(heads, None)["size"] == 9
    assert sampling.choose_head(heads, 3)["root_hash"] == "aa"
    with pytest.raises(sampling.SampleError, match="no signed head of size 4; the newest is"):
        sampling.choose_head(heads, 4)
    with pytest.raises(sampling.SampleError, match="no signed head yet"):
        sampling.choose_head([], None)
    with pytest.raises(sampling.SampleError, match="not 64 hexadecimal digits"):
        sampling.draw("zz", [1], 1)


# Reference values: scipy.stats.beta.ppf(0.95, k + 1, n - k), the textbook form of the
# one-sided Clopper-Pearson upper bound, computed once outside this project.
REFERENCE = [
    (0, 300, 0.009936081944457708),
    (0, 10, 0.2588655508930522),
    (1, 10, 0.39416330243650466),
    (1, 100, 0.046559811453538935),
    (5, 100, 0.1022533776432745),
    (3, 300, 0.025641393082609616),
    (10, 1000, 0.016903175120562504),
    (0, 1, 0.95),
    (50, 2000, 0.031538027740025856),
    (2, 50, 0.12061415542204412),
]


@pytest.mark.parametrize(("found", "size", "expected"), REFERENCE)
def test_the_bound_matches_an_independent_computation(found, size, expected):
    assert confidence.upper_bound(found, size) == pytest.approx(expected, rel=1e-9)


def test_none_false_in_300_bounds_the_share_below_one_percent():
    assert f"{confidence.upper_bound(0, 300):.2%}" == "0.99%"
    assert confidence.rule_of_three(300) == 0.01
    assert confidence.upper_bound(0, 300) < confidence.rule_of_three(300)


def test_the_bound_is_where_the_exact_binomial_tail_is_five_percent():
    # In exact rational arithmetic: just below the bound the tail is above 5%, at it, 5%.
    def tail(found, size, share):
        return sum(comb(size, j) * share**j * (1 - share) ** (size - j) for j in range(found + 1))

    for found, size in [(1, 40), (4, 120), (7, 60)]:
        bound = Fraction(confidence.upper_bound(found, size))
        # Floating point sums the tail to about 1e-15 of its value.
        assert tail(found, size, bound) <= Fraction(5, 100) + Fraction(1, 10**13)
        assert tail(found, size, bound - Fraction(1, 10**9)) > Fraction(5, 100)


def test_every_one_false_bounds_at_one_and_impossible_counts_are_refused():
    assert confidence.upper_bound(4, 4) == 1.0
    for found, size in [(-1, 10), (11, 10), (0, 0)]:
        with pytest.raises(ValueError, match="sample"):
            confidence.upper_bound(found, size)
