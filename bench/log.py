"""Signature log benchmark: what the public log costs a confirmation, proof and head latency on a
log of a million leaves, and how fast `flask --app app log verify` checks one. PostgreSQL only.

Everything happens in a scratch database (`db upgrade` in a subprocess, dropped at the end):
  1. a sample roll of about 1.25 x --confirmations members goes in with the real `roll import`;
     then, for each member, in turn: signing.confirm on petition A (the log as it is), on petition
     B with signing.store.append replaced by a no-op in this process only (so A - B is
     what the log adds), and store.append alone on petition C, one transaction per leaf
     (timed: the call, and the call with its commit);
  2. a petition whose log has --leaves leaves, built in memory (real signature leaves with
     distinct commitments, subtree hashes from merkle.completed_nodes) and loaded with COPY,
     with heads signed at a quarter, half and all of it; and one of 1,000 leaves built the same
     way. For each: --samples random inclusion and consistency proofs read from the database,
     GET /log/proof and /log/head through the Flask test client, and sign_head at a fresh size
     (rolled back, so the stored heads stay as they were). Every proof and root is checked
     against the tree held in memory, outside the timed section;
  3. the wall time of `flask --app app log verify --slug SLUG` on the big log, of exporting the
     evidence pack from the API to a file and of `log verify FILE` on it; the verifier's own work
     in this process on the leaves held in memory; and, as the ceiling, hashlib SHA-256 of the
     same leaf bytes (leaf hashes only).

    python bench/log.py [--leaves 1000000] [--confirmations 2000] [--runs 3] [--samples 1000]
"""

import argparse
import base64
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

import psycopg
from sqlalchemy import event, select
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.db.engine import utcnow
from petitions.db.models import Member, MemberStatus, Petition
from petitions.lifecycle import rules
from petitions.roll.sample import write_sample_roll
from petitions.signatures import signing, tokens
from petitions.transparency import evidence, merkle, store
from petitions.transparency import leaves as log_leaves
from petitions.transparency import verify as log_verify

if not __package__:
    # Run as `python bench/log.py`, which puts bench/ on sys.path rather than the repository
    # root that holds the bench package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import bounded, drop_database, percentile, recreate_database, sqlalchemy_url

DATABASE = "petitions_bench_log"
SMALL_LEAVES = 1000
# Settings the service reads that this benchmark fixes or must not inherit from the shell.
CLEARED = ("REDIS_URL", "SMTP_URL", "BALLOT_WEBHOOK_URL", "SECRET_KEY_FALLBACKS", "BASE_URL")


# --- small helpers ----------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, float]:
    """p50, p99 and mean, in milliseconds."""
    return {
        "p50": percentile(values, 50) * 1000,
        "p99": percentile(values, 99) * 1000,
        "mean": statistics.fmean(values) * 1000 if values else float("nan"),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the runs."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def ms_line(label: str, figures: dict[str, float], width: int = 44) -> str:
    """A labelled p50 / p99 / mean line."""
    return (
        f"  {label + ':':<{width}} p50 {figures['p50']:8.3f} ms   p99 {figures['p99']:8.3f} ms"
        f"   mean {figures['mean']:8.3f} ms"
    )


class Statements:
    """Counts the SQL statements an engine sends (executemany counts once)."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


def flask_command(*args: str) -> tuple[float, str]:
    """Run `flask --app app ARGS` with this process's environment; return (wall s, output)."""
    # An hour, not the usual ten minutes: `log verify` of a big log is what is being timed.
    start = time.perf_counter()
    try:
        output = common.flask_command(dict(os.environ), *args, timeout=3600)
    except common.BenchError as exc:
        sys.exit(str(exc))
    return time.perf_counter() - start, output


def make_petition(engine, slug: str, threshold: int) -> Petition:
    """An open petition whose threshold is not reached in this benchmark."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        rules.create_petition(session, slug=slug, title=f"Bench {slug}", threshold=threshold)
        petition = rules.open_petition(session, slug)
    return petition


# --- 1. what a leaf adds to a confirmation ----------------------------------------------------


def confirmation_cost(engine, settings, members: list[tuple[int, str]], run: int) -> dict:
    """Confirm every member on a petition with the log and on one with a no-op append, and
    append the same leaves alone on a third; per-item seconds of each."""
    threshold = 10 * len(members) + 10
    real = make_petition(engine, f"bench-log-real-{run}", threshold)
    noop = make_petition(engine, f"bench-log-noop-{run}", threshold)
    alone = make_petition(engine, f"bench-log-append-{run}", threshold)
    secret, fallbacks = settings.secret_key, settings.secret_key_fallbacks
    real_tokens = [tokens.make_token(secret, fallbacks, real.id, mid) for mid, _ in members]
    noop_tokens = [tokens.make_token(secret, fallbacks, noop.id, mid) for mid, _ in members]
    moment = utcnow()
    alone_leaves = [
        log_leaves.signature_leaf(i, log_leaves.commitment(alone.log_secret, number), moment)
        for i, (_, number) in enumerate(members)
    ]
    statements = Statements(engine)

    def no_append(*_args, **_kwargs):
        return None

    times: dict[str, list[float]] = {"real": [], "noop": [], "append": [], "append_commit": []}
    counts = {"real": 0, "noop": 0, "append": 0}

    def confirm_real(i: int) -> None:
        before = statements.count
        start = time.perf_counter()
        outcome = signing.confirm(engine, settings, real_tokens[i])
        times["real"].append(time.perf_counter() - start)
        counts["real"] += statements.count - before
        if outcome.status != "confirmed" or outcome.leaf_index != i:
            sys.exit(f"confirm with the log answered {outcome.status}, leaf {outcome.leaf_index}")

    def confirm_noop(i: int) -> None:
        before = statements.count
        with mock.patch.object(signing.store, "append", no_append):
            start = time.perf_counter()
            outcome = signing.confirm(engine, settings, noop_tokens[i])
            times["noop"].append(time.perf_counter() - start)
        counts["noop"] += statements.count - before
        if outcome.status != "confirmed":
            sys.exit(f"confirm with a no-op append answered {outcome.status}")

    def append_alone(i: int) -> None:
        with Session(engine) as session:
            session.begin()
            before = statements.count
            start = time.perf_counter()
            store.append(session, alone, i, "signature", alone_leaves[i], None)
            called = time.perf_counter()
            session.commit()
            done = time.perf_counter()
            counts["append"] += statements.count - before
        times["append"].append(called - start)
        times["append_commit"].append(done - start)

    steps = (confirm_real, confirm_noop, append_alone)
    for i in range(len(members)):
        # Rotate the order so that none of the three always runs right after the same other.
        for shift in range(3):
            steps[(i + shift) % 3](i)
    event.remove(engine, "before_cursor_execute", statements._seen)
    figures = {name: summary(values) for name, values in times.items()}
    figures["statements"] = {name: total / len(members) for name, total in counts.items()}
    return figures


# --- 2. a big log, built in memory and loaded with COPY ---------------------------------------


class BuiltLog:
    """A petition's log as built here: its leaves' bytes and every stored subtree hash."""

    def __init__(self, petition: Petition, leaves: list[bytes], nodes: dict):
        self.petition = petition
        self.leaves = leaves
        self.nodes = nodes

    @property
    def size(self) -> int:
        return len(self.leaves)

    def get_node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def root(self, size: int) -> bytes:
        return merkle.root(self.get_node, size)


def build_log(engine, url: str, settings, slug: str, size: int) -> tuple[BuiltLog, dict]:
    """A petition with ``size`` signature leaves, loaded with COPY; heads signed at a quarter,
    half and all of it. Returns the log and the seconds each step took."""
    petition = make_petition(engine, slug, rules.THRESHOLD_MAX)
    took: dict[str, float] = {}
    start = time.perf_counter()
    first = utcnow().replace(microsecond=0) - timedelta(seconds=size // 10 + 60)
    leaves = [
        log_leaves.signature_leaf(
            i,
            log_leaves.commitment(petition.log_secret, f"M{i + 1:07d}"),
            first + timedelta(seconds=i // 10),
        )
        for i in range(size)
    ]
    hashes = [merkle.leaf_hash(data) for data in leaves]
    took["leaves"] = time.perf_counter() - start
    start = time.perf_counter()
    nodes: dict[tuple[int, int], bytes] = {}
    get_node = nodes.__getitem__

    def lookup(level: int, index: int) -> bytes:
        return get_node((level, index))

    for index, value in enumerate(hashes):
        for level, position, node in merkle.completed_nodes(index, value, lookup):
            nodes[(level, position)] = node
    took["nodes"] = time.perf_counter() - start

    start = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY log_leaf (petition_id, index, kind, data, leaf_hash) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int4", "int4", "varchar", "bytea", "bytea"])
            for index, (data, value) in enumerate(zip(leaves, hashes, strict=True)):
                copy.write_row((petition.id, index, "signature", data, value))
        took["copy_leaves"] = time.perf_counter() - start
        start = time.perf_counter()
        with cursor.copy(
            'COPY log_node (petition_id, level, "index", hash) FROM STDIN (FORMAT BINARY)'
        ) as copy:
            copy.set_types(["int4", "int4", "int4", "bytea"])
            for (level, position), node in nodes.items():
                copy.write_row((petition.id, level, position, node))
        cursor.execute(
            "UPDATE petition SET log_size = %s, signature_count = %s, last_number = %s "
            "WHERE id = %s",
            (size, size, size, petition.id),
        )
        conn.commit()
        took["copy_nodes"] = time.perf_counter() - start
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE log_leaf")
        conn.execute("VACUUM ANALYZE log_node")

    built = BuiltLog(petition, leaves, nodes)
    for head_size in sorted({max(1, size // 4), max(1, size // 2), size}):
        with Session(engine, expire_on_commit=False) as session, session.begin():
            head = store.sign_head(session, petition, head_size, settings, utcnow())
        if head.root_hash != built.root(head_size).hex():
            sys.exit(f"the head of size {head_size} signs a root the tree built here does not")
    with Session(engine, expire_on_commit=False) as session:
        built.petition = session.scalars(select(Petition).where(Petition.id == petition.id)).one()
    return built, took


def proof_latency(engine, app, settings, log: BuiltLog, samples: int, rng: random.Random) -> dict:
    """Proofs from the database, the two endpoints, and head signing, each ``samples`` times."""
    petition, size = log.petition, log.size
    statements = Statements(engine)
    times: dict[str, list[float]] = {
        "inclusion": [],
        "consistency": [],
        "http_proof": [],
        "http_head": [],
        "sign_head": [],
    }
    queries = dict.fromkeys(times, 0)

    def timed(name: str, action):
        before = statements.count
        start = time.perf_counter()
        result = action()
        times[name].append(time.perf_counter() - start)
        queries[name] += statements.count - before
        return result

    for _ in range(samples):
        second = rng.randint(1, size)
        index = rng.randrange(second)
        with Session(engine) as session:
            path = timed(
                "inclusion",
                lambda: store.inclusion_proof(session, petition, index, second),  # noqa: B023
            )
        if not merkle.verify_inclusion(
            merkle.leaf_hash(log.leaves[index]), index, second, path, log.root(second)
        ):
            sys.exit(f"the inclusion proof of leaf {index} in {second} does not verify")

        first = rng.randint(1, second)
        with Session(engine) as session:
            proof = timed(
                "consistency",
                lambda: store.consistency_proof(session, petition, first, second),  # noqa: B023
            )
        if not merkle.verify_consistency(first, second, log.root(first), log.root(second), proof):
            sys.exit(f"the consistency proof of {first} in {second} does not verify")

    base = f"/api/v1/petitions/{petition.slug}/log"
    with app.test_client() as client:
        for _ in range(samples):
            second = rng.randint(1, size)
            index = rng.randrange(second)
            url = f"{base}/proof?index={index}&size={second}"
            response = timed("http_proof", lambda: client.get(url))  # noqa: B023
            body = response.get_json()
            if response.status_code != 200 or not merkle.verify_inclusion(
                bytes.fromhex(body["leaf_hash"]),
                index,
                second,
                [bytes.fromhex(node) for node in body["audit_path"]],
                log.root(second),
            ):
                sys.exit(f"GET {url} answered {response.status_code}: {response.get_data()[:200]}")
            response = timed("http_head", lambda: client.get(f"{base}/head"))
            if response.status_code != 200 or response.get_json()["size"] != size:
                sys.exit(f"GET {base}/head answered {response.status_code}")

    with Session(engine) as session:
        signed = set(signature_log_sizes(session, petition.id))
    fresh = [n for n in (rng.randint(1, size) for _ in range(samples * 2)) if n not in signed]
    for head_size in fresh[:samples]:
        with Session(engine) as session:
            session.begin()
            head = timed(
                "sign_head",
                lambda: store.sign_head(session, petition, head_size, settings, utcnow()),  # noqa: B023
            )
            session.rollback()
        if head.root_hash != log.root(head_size).hex():
            sys.exit(f"sign_head at {head_size} signed a wrong root")
    event.remove(engine, "before_cursor_execute", statements._seen)
    figures = {name: summary(values) for name, values in times.items()}
    figures["statements"] = {name: queries[name] / len(times[name]) for name in times}
    return figures


def signature_log_sizes(session: Session, petition_id: int) -> list[int]:
    """The sizes of a petition's signed heads."""
    return [head.size for head in store.heads(session, petition_id)]


# --- 3. log verify ----------------------------------------------------------------------------


def export_pack(app, slug: str, path: Path) -> float:
    """Save the evidence pack from GET /api/v1/petitions/SLUG/evidence; return the seconds."""
    start = time.perf_counter()
    with app.test_client() as client, path.open("wb") as out:
        response = client.get(f"/api/v1/petitions/{slug}/evidence", buffered=False)
        if response.status_code != 200:
            sys.exit(f"GET evidence answered {response.status_code}")
        for chunk in response.response:
            out.write(chunk if isinstance(chunk, bytes) else chunk.encode())
        response.close()
    return time.perf_counter() - start


def verify_in_process(engine, settings, log: BuiltLog) -> float:
    """Seconds for log_verify.verify on the leaves held in memory (no database, no JSON)."""
    with Session(engine) as session:
        header = evidence.header(session, log.petition, settings)
    start = time.perf_counter()
    report = log_verify.verify(header, enumerate(log.leaves))
    elapsed = time.perf_counter() - start
    if not report.ok or report.leaves != log.size:
        sys.exit(f"the verifier found problems: {report.problems[:3]}")
    return elapsed


def hash_ceiling(leaves: list[bytes]) -> float:
    """Seconds for hashlib SHA-256 of every leaf (RFC 6962 leaf hash: 0x00 prefix)."""
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for data in leaves:
        sha256(b"\x00" + data).digest()
    return time.perf_counter() - start


def check_verified(output: str, size: int) -> None:
    if "the log verifies" not in output or not output.startswith(f"{size} leaves"):
        sys.exit(f"log verify said:\n{output}")


# --- main -------------------------------------------------------------------------------------


def parse_options() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Bounds in the error messages with thousands separators: they run to millions here.
    parser.add_argument(
        "--leaves", type=bounded(2 * SMALL_LEAVES, 20_000_000, grouped=True), default=1_000_000
    )
    parser.add_argument("--confirmations", type=bounded(10, 100_000, grouped=True), default=2000)
    parser.add_argument("--runs", type=bounded(1, 20, grouped=True), default=3)
    parser.add_argument(
        "--samples",
        type=bounded(10, 100_000, grouped=True),
        default=1000,
        help="random proofs, requests and head signings per size and run",
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def configure(url: str) -> None:
    """This process's settings, which the flask subprocesses inherit."""
    for name in CLEARED:
        os.environ.pop(name, None)
    os.environ.update(
        PETITIONS_ENV="development",
        DATABASE_URL=sqlalchemy_url(url),
        SECRET_KEY="bench-log-" + base64.b16encode(os.urandom(16)).decode(),
        BALLOT_WEBHOOK_SECRET="whsec_" + base64.b64encode(os.urandom(24)).decode(),
        LOG_SIGNING_KEY=base64.b64encode(os.urandom(32)).decode(),
    )


def main() -> None:
    """Run the benchmark and print its figures; the scratch database is dropped however it ends."""
    options = parse_options()
    common.interrupt_on_sigterm()
    rng = random.Random(options.seed)
    url = recreate_database(DATABASE)
    try:
        run_all(options, url, rng)
    finally:
        drop_database(DATABASE)


def run_all(options: argparse.Namespace, url: str, rng: random.Random) -> None:
    configure(url)
    flask_command("db", "upgrade")
    from app import create_app

    # No in-process worker thread: its housekeeping would sign heads in the middle of timings.
    app = create_app({"INPROCESS_WORKER_THREAD": False})
    engine = flask_db.engine_of(app)
    settings = settings_of(app)
    print(
        f"log bench: PostgreSQL {DATABASE}; {os.cpu_count()} CPUs; load average "
        f"{os.getloadavg()[0]:.1f}; {options.runs} runs, medians of each run's figures"
    )

    # 1 -------------------------------------------------------------------------------------
    rows = options.confirmations + options.confirmations // 4 + 100
    with tempfile.TemporaryDirectory(prefix="bench-log-") as scratch:
        roll = Path(scratch) / "roll.csv"
        with roll.open("w", encoding="utf-8") as out:
            write_sample_roll(out, rows)
        seconds, _ = flask_command("roll", "import", str(roll))
    with Session(engine) as session:
        members = list(
            session.execute(
                select(Member.id, Member.number)
                .where(Member.status == MemberStatus.ACTIVE)
                .order_by(Member.id)
                .limit(options.confirmations)
            ).all()
        )
    if len(members) < options.confirmations:
        sys.exit(f"the roll has only {len(members)} active members")
    print(
        f"\n1. a leaf's cost per confirmation: {options.confirmations:,} members (roll of "
        f"{rows:,} imported with `roll import` in {seconds:.1f} s), confirmed one at a time"
    )
    part1 = []
    for run in range(1, options.runs + 1):
        figures = confirmation_cost(engine, settings, [tuple(m) for m in members], run)
        part1.append(figures)
        print(
            f"  run {run}: confirm p50 {figures['real']['p50']:.3f} ms, with no-op append p50 "
            f"{figures['noop']['p50']:.3f} ms, append alone p50 {figures['append']['p50']:.3f} ms"
        )
    real = median_of([f["real"] for f in part1])
    noop = median_of([f["noop"] for f in part1])
    append = median_of([f["append"] for f in part1])
    append_commit = median_of([f["append_commit"] for f in part1])
    stmts = median_of([f["statements"] for f in part1])
    print(ms_line("signing.confirm (with the log)", real))
    print(ms_line("signing.confirm, append a no-op", noop))
    print(
        "  difference (the log's cost in confirm):      "
        f"p50 {real['p50'] - noop['p50']:8.3f} ms   p99 {real['p99'] - noop['p99']:8.3f} ms"
        f"   mean {real['mean'] - noop['mean']:8.3f} ms"
    )
    print(ms_line("store.append alone (the call)", append))
    print(ms_line("store.append alone + its commit", append_commit))
    print(
        f"  SQL statements per item: confirm {stmts['real']:.2f}, no-op append "
        f"{stmts['noop']:.2f}, append alone {stmts['append']:.2f}"
    )
    sys.stdout.flush()

    # 2 -------------------------------------------------------------------------------------
    print(f"\n2. proofs and heads: logs of {SMALL_LEAVES:,} and {options.leaves:,} leaves")
    logs = {}
    for size in (SMALL_LEAVES, options.leaves):
        start = time.perf_counter()
        log, took = build_log(engine, url, settings, f"bench-log-{size}", size)
        logs[size] = log
        print(
            f"  built {size:,} leaves, {len(log.nodes):,} nodes in "
            f"{time.perf_counter() - start:.1f} s (leaves {took['leaves']:.1f} s, nodes "
            f"{took['nodes']:.1f} s, COPY log_leaf {took['copy_leaves']:.1f} s, COPY log_node "
            f"{took['copy_nodes']:.1f} s); heads at "
            + ", ".join(f"{n:,}" for n in sorted({max(1, size // 4), max(1, size // 2), size}))
        )
    sys.stdout.flush()
    part2: dict[int, list[dict]] = {size: [] for size in logs}
    for run in range(1, options.runs + 1):
        for size, log in logs.items():
            figures = proof_latency(engine, app, settings, log, options.samples, rng)
            part2[size].append(figures)
            print(
                f"  run {run}, {size:>9,} leaves: inclusion p50 "
                f"{figures['inclusion']['p50']:.3f} ms, consistency p50 "
                f"{figures['consistency']['p50']:.3f} ms, GET proof p50 "
                f"{figures['http_proof']['p50']:.3f} ms, GET head p50 "
                f"{figures['http_head']['p50']:.3f} ms, sign_head p50 "
                f"{figures['sign_head']['p50']:.3f} ms"
            )
            sys.stdout.flush()
    labels = {
        "inclusion": "store.inclusion_proof",
        "consistency": "store.consistency_proof",
        "http_proof": "GET /log/proof (test client)",
        "http_head": "GET /log/head (test client)",
        "sign_head": "sign_head at a fresh size",
    }
    for size in logs:
        stmts = median_of([f["statements"] for f in part2[size]])
        print(f"  at {size:,} leaves ({options.samples:,} random samples each):")
        for name, label in labels.items():
            figures = median_of([f[name] for f in part2[size]])
            print(ms_line(label, figures, 36) + f"   {stmts[name]:5.1f} SQL")
    print("  flatness, p50 at the big log / p50 at the small one:")
    for name, label in labels.items():
        small = median_of([f[name] for f in part2[SMALL_LEAVES]])["p50"]
        big = median_of([f[name] for f in part2[options.leaves]])["p50"]
        print(f"    {label + ':':<36} {big / small:5.2f}x")
    sys.stdout.flush()

    # 3 -------------------------------------------------------------------------------------
    big = logs[options.leaves]
    slug = big.petition.slug
    print(f"\n3. log verify on the {options.leaves:,}-leaf log")
    part3: dict[str, list[float]] = {
        "slug": [],
        "export": [],
        "file": [],
        "core": [],
        "ceiling": [],
        "startup": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-log-") as scratch:
        pack = Path(scratch) / "evidence.jsonl"
        for run in range(1, options.runs + 1):
            seconds, _output = flask_command("log", "verify", "--slug", f"bench-log-{SMALL_LEAVES}")
            part3["startup"].append(seconds)
            seconds, output = flask_command("log", "verify", "--slug", slug)
            check_verified(output, options.leaves)
            part3["slug"].append(seconds)
            part3["export"].append(export_pack(app, slug, pack))
            seconds, output = flask_command("log", "verify", str(pack))
            check_verified(output, options.leaves)
            part3["file"].append(seconds)
            part3["core"].append(verify_in_process(engine, settings, big))
            part3["ceiling"].append(hash_ceiling(big.leaves))
            print(
                f"  run {run}: verify --slug {part3['slug'][-1]:.1f} s, export "
                f"{part3['export'][-1]:.1f} s ({pack.stat().st_size / 2**20:.0f} MiB), verify "
                f"FILE {part3['file'][-1]:.1f} s, verifier in-process "
                f"{part3['core'][-1]:.1f} s, hashlib {part3['ceiling'][-1]:.2f} s"
            )
            sys.stdout.flush()
    startup = statistics.median(part3.pop("startup"))
    rate = {name: options.leaves / statistics.median(values) for name, values in part3.items()}
    print(f"  log verify --slug SLUG (wall time):          {rate['slug']:>12,.0f} leaves/s")
    print(f"  export GET /evidence to a file:              {rate['export']:>12,.0f} leaves/s")
    print(f"  log verify FILE (wall time):                 {rate['file']:>12,.0f} leaves/s")
    print(f"  log_verify.verify in-process, leaves in RAM: {rate['core']:>12,.0f} leaves/s")
    print(f"  ceiling: hashlib SHA-256 of the leaf bytes:  {rate['ceiling']:>12,.0f} leaves/s")
    print(
        f"  log verify --slug / ceiling: {rate['slug'] / rate['ceiling']:.1%}; the command's "
        f"start-up (verify of the {SMALL_LEAVES:,}-leaf log) {startup:.2f} s"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
