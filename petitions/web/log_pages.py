"""The public log over HTTP: leaves, signed heads, proofs, the evidence pack, and the pages that
let a signer or anyone check them."""

import base64
import re

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from sqlmodel import Session

from petitions.config import settings_of
from petitions.db import flask_db
from petitions.lifecycle import rules
from petitions.lifecycle.rules import find_published
from petitions.signatures import name_check, receipts
from petitions.transparency import evidence, roll_commitment, store, witnessing
from petitions.web import whole_numbers
from petitions.web.errors import json_error
from petitions.web.loaders import petition_or_404

bp = Blueprint("log", __name__)
PAGE_MAX = 1000
# The receipt's check reads the whole log, to see that no entry cancels the receipt's, when the
# signed head has at most this many entries: about 3 MB of JSON in ten pages of PAGE_MAX.
BROWSER_READS_UP_TO = 10_000


def _int_arg(name: str, default: int | None = None, minimum: int = 0) -> int:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            abort(json_error(400, "invalid_parameter", f"{name} is required"))
        return default
    # No leaf index or tree size can pass the database's integer columns; a larger number is
    # bad input, not a query that fails.
    value = whole_numbers.parse(raw.strip())
    if value is None:
        abort(
            json_error(
                400,
                "invalid_parameter",
                f"{name} must be a whole number from {minimum} to {whole_numbers.MAX_INT}",
            )
        )
    if value < minimum:
        abort(json_error(400, "invalid_parameter", f"{name} must be at least {minimum}"))
    return value


@bp.get("/api/v1/petitions/<slug>/log")
def log_leaves(slug: str):
    """Leaves in order, each with its bytes as base64 ``leaf_input``; paged by start/limit."""
    petition = petition_or_404(slug, session=flask_db.session())
    start = _int_arg("start", 0)
    limit = min(_int_arg("limit", 100, minimum=1), PAGE_MAX)
    rows = store.leaves(flask_db.session(), petition.id, start, limit)
    following = start + len(rows)
    return jsonify(
        size=petition.log_size,
        start=start,
        leaves=[
            {
                "index": row.index,
                "leaf_input": base64.b64encode(row.data).decode(),
                "leaf_hash": row.leaf_hash.hex(),
            }
            for row in rows
        ],
        next=following if following < petition.log_size else None,
    )


@bp.get("/api/v1/petitions/<slug>/log/head")
def log_head(slug: str):
    """The newest signed tree head."""
    petition = petition_or_404(slug, session=flask_db.session())
    head = store.latest_head(flask_db.session(), petition.id)
    if head is None:
        return json_error(404, "no_head", "the log has no signed head yet")
    return jsonify(head.as_json())


@bp.get("/api/v1/petitions/<slug>/log/proof")
def log_proof(slug: str):
    """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    petition = petition_or_404(slug, session=flask_db.session())
    index, size = _int_arg("index"), _int_arg("size", minimum=1)
    if size > petition.log_size or index >= size:
        return json_error(
            400, "invalid_parameter", f"need index < size <= {petition.log_size} (the log size)"
        )
    session = flask_db.session()
    path = store.inclusion_proof(session, petition, index, size)
    return jsonify(
        index=index,
        size=size,
        leaf_hash=store.leaf_hash_at(session, petition.id, index).hex(),
        audit_path=[node.hex() for node in path],
    )


@bp.get("/api/v1/petitions/<slug>/log/cancellations")
def log_cancellations(slug: str):
    """The leaves that cancel leaf ``index`` (a signature no longer counted), each with its
    bytes, so that a receipt's check can verify them and their inclusion itself."""
    petition = petition_or_404(slug, session=flask_db.session())
    index = _int_arg("index")
    found = receipts.cancellations_of(flask_db.session(), petition.id, index)
    return jsonify(
        index=index,
        cancelled_by=[
            {
                "index": item.leaf.index,
                "leaf_input": base64.b64encode(item.leaf.data).decode(),
                "leaf_hash": item.leaf.leaf_hash.hex(),
                "type": item.kind,
                "reason": item.reason,
                "reason_text": item.reason_text,
                "time": item.time,
            }
            for item in found
        ],
    )


@bp.get("/api/v1/petitions/<slug>/log/consistency")
def log_consistency(slug: str):
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    petition = petition_or_404(slug, session=flask_db.session())
    first, second = _int_arg("first", minimum=1), _int_arg("second", minimum=1)
    if first > second or second > petition.log_size:
        return json_error(
            400, "invalid_parameter", f"need 1 <= first <= second <= {petition.log_size}"
        )
    proof = store.consistency_proof(flask_db.session(), petition, first, second)
    return jsonify(first=first, second=second, consistency=[node.hex() for node in proof])


CHECKPOINT_TYPE = "text/plain; charset=utf-8"


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, content_type=CHECKPOINT_TYPE)


@bp.get("/p/<slug>/log/checkpoint")
def log_checkpoint(slug: str):
    """The newest signed head (or the one of ``size`` leaves) as a C2SP tlog-checkpoint signed
    note: the log's signature, then every witness cosignature gathered for it."""
    session = flask_db.session()
    petition = find_published(session, slug)
    if petition is None:
        return _text(404, f"no petition with slug {slug!r}")
    raw = request.args.get("size")
    if raw is None:
        head = store.latest_head(session, petition.id)
    else:
        size = whole_numbers.parse(raw.strip())
        if size is None:
            return _text(400, "size must be a whole number")
        head = store.head_at(session, petition.id, size)
    if head is None:
        return _text(404, "the log has no signed head of that size yet")
    note, _witnesses = witnessing.served_note(session, petition, settings_of(current_app), head)
    return Response(note, content_type=CHECKPOINT_TYPE)


@bp.get("/api/v1/log/public-key")
def log_public_key():
    """The Ed25519 key that signs every tree head."""
    return jsonify(algorithm="Ed25519", public_key=store.public_key(settings_of(current_app)))


@bp.get("/api/v1/petitions/<slug>/evidence")
def evidence_pack(slug: str):
    """The evidence pack: everything `flask log verify FILE` needs, as JSON Lines."""
    petition = petition_or_404(slug, session=flask_db.session())
    # Its own session: the stream outlives the request's session, which closes at teardown.
    session = Session(flask_db.engine(), expire_on_commit=False)
    settings = settings_of(current_app)

    def lines():
        with session:
            yield from evidence.export(session, petition, settings)

    return Response(
        lines(),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{slug}-evidence.jsonl"'},
    )


@bp.get("/p/<slug>/results")
def results(slug: str):
    """The public results: count, threshold, state, the newest signed head, how to check them.
    Works without JavaScript and keeps its address."""
    petition = petition_or_404(slug, session=flask_db.session())
    session = flask_db.session()
    return render_template(
        "log/results.html",
        petition=petition,
        state=rules.effective_state(petition),
        head=store.latest_head(session, petition.id),
        name_reports=name_check.report_count(session, petition.id),
        public_key=store.public_key(settings_of(current_app)),
        witnesses=witnessing.statuses(session, petition, settings_of(current_app)),
        generations=roll_commitment.generations(session, petition.id),
    )


_LEAF_HASH = re.compile(r"^[0-9a-f]{64}$")


@bp.get("/p/<slug>/receipt")
def receipt(slug: str):
    """A signer's receipt: what it stands for now (counted, or cancelled: when and why), which
    their browser then checks against the newest signed head."""
    petition = petition_or_404(slug, session=flask_db.session())
    raw_index = request.args.get("index", "")
    leaf_hash = request.args.get("leaf_hash", "")
    index = whole_numbers.parse(raw_index.strip())
    status = None
    if index is not None and _LEAF_HASH.match(leaf_hash):
        status = receipts.receipt_status(
            flask_db.session(), petition.id, index, bytes.fromhex(leaf_hash)
        )
    return render_template(
        "log/receipt.html",
        petition=petition,
        leaf_index=raw_index,
        entry=index + 1 if index is not None else None,
        leaf_hash=leaf_hash,
        status=status,
        browser_limit=BROWSER_READS_UP_TO,
        public_key=store.public_key(settings_of(current_app)),
    )
