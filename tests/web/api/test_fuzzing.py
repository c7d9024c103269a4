"""The JSON API fuzzed by schemathesis against its own OpenAPI document, on a live server.

The app is served on a loopback port (as for the browser tests), with petitions open, triggered,
closed and in draft, signatures, an invalidation and signed log heads, on SQLite and on
PostgreSQL. ``schemathesis run`` then reads /api/v1/openapi.json from it and tests every
operation: the schema's examples, boundary values (coverage), generated requests valid and
invalid (fuzzing), and chains of requests along the document's links (stateful). Every answer
must be no 5xx, have a status, content type, headers and body the document gives, and be one
tests/api_contract.py accepts; invalid requests must be refused with a 4xx.

tests/web/api/fuzz_hooks.py mixes the service's real slugs, log indexes, addresses and tokens
into what is generated. The budget is small and the seed fixed, so that a run is repeatable and
cheap (tests/fuzz_budget.py): PETITIONS_FUZZ_EXAMPLES and PETITIONS_FUZZ_SEED give a longer or
another run (README, "Test it").
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from petitions.db import flask_db
from petitions.db.models import Member, Petition
from petitions.lifecycle import rules
from petitions.signatures import tokens
from tests import walk
from tests.browser_support import served
from tests.fuzz_budget import EXAMPLES, SEED
from tests.helpers import add_members

HOOKS = Path(__file__).with_name("fuzz_hooks.py")
ROOT = Path(__file__).resolve().parents[3]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "documented_in_openapi",
)
DRAFT = "draft-one"


def _arrange(app) -> dict:
    """The service's data, and what the hooks mix into the generated requests."""
    walk.arrange(app)
    add_members(app, ("S1", "suspended@example.org", "suspended"))
    engine = flask_db.engine_of(app)
    with Session(engine, expire_on_commit=False) as session:
        rules.create_petition(session, slug=DRAFT, title="A draft", threshold=5)
        session.commit()
        petitions = list(session.exec(select(Petition)))
        members = list(session.exec(select(Member).order_by(Member.id)))
    secret = app.config["SECRET_KEY"]
    # Per petition: a member who signed, some who did not, one suspended; a link for each.
    chosen = [members[0], members[1], members[15], members[25], members[-1]]
    return {
        "slugs": [petition.slug for petition in petitions],
        "largest_log": max(petition.log_size for petition in petitions),
        "emails": [member.email for member in chosen],
        "tokens": [
            tokens.make_token(secret, [], petition.id, member.id)
            for petition in petitions
            for member in chosen
        ],
    }


def _schemathesis(base: str, data: Path, report: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/api/v1/openapi.json",
        f"--checks={','.join(CHECKS)}",
        f"--max-examples={EXAMPLES}",
        f"--seed={SEED}",
        "--generation-database=none",
        "--workers=1",
        # As for every property test here (tests/conftest.py): the machine may be busy, and
        # time is not what is checked.
        "--suppress-health-check=too_slow",
        "--request-timeout=30",
        "--no-color",
        "--report=json",
        f"--report-json-path={report}",
    ]
    environment = os.environ | {
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "PETITIONS_FUZZ_DATA": str(data),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        command,
        cwd=report.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_api_survives_fuzzing_against_its_own_document(app, tmp_path, database_url):
    data = tmp_path / "fuzz-data.json"
    data.write_text(json.dumps(_arrange(app)))
    report_path = tmp_path / "schemathesis.json"
    with served(app) as base:
        run = _schemathesis(base, data, report_path)
    summary = run.stdout[run.stdout.find("Coverage") :]
    assert run.returncode == 0, f"schemathesis found faults:\n{run.stdout}\n{run.stderr}"
    report = json.loads(report_path.read_text())
    operations, cases = report["operations"], report["test_cases"]
    assert operations["tested"] == operations["total"] == operations["selected"], operations
    assert {name: phase["status"] for name, phase in report["phases"].items()} == {
        "examples": "skip",  # the document gives no examples: the hooks give real values
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    links = re.search(r"API Links: +(\d+) covered / (\d+) selected", summary)
    assert links is not None, summary
    assert int(links[1]) > 0, f"no link was followed:\n{summary}"
    database = database_url.split(":", 1)[0]
    print(
        f"\nschemathesis on {database}: {operations['tested']} operations, "
        f"{cases['generated']} test cases, {EXAMPLES} examples per operation, seed {SEED}, "
        f"{report['running_time']:.1f} s\n{summary}"
    )
