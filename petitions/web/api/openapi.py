"""The OpenAPI 3.1 description of the JSON API, served at /api/v1/openapi.json. Its paths and
operations are described here; its schemas are generated from the pydantic models in
petitions.web.api.models. Tests check that it lists every API route the app registers, and that
every API answer the tests see is one it describes."""

import copy
from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from petitions.web.api import models

REF = "#/components/schemas/{model}"

# Answers any operation may give besides its own.
_NUL = (
    "bad_request: the request holds a NUL character or a lone surrogate, which no field "
    "allows, or JSON nested deeper than 32 levels."
)
_TOO_LARGE = "request_entity_too_large: the body is larger than the 64 KiB allowed."
_BUSY = (
    "service_unavailable: the database is busy finishing a long piece of work (such as a roll "
    "import), or the service lost its connection to the database for a moment; try again "
    "after Retry-After seconds."
)
_RATE_LIMITED = (
    "rate_limited: too many requests from this network (a safety valve far above what a crowd "
    "of members asks; never for the address given); try again after Retry-After seconds."
)
_NOT_FOUND = "not_found: no published petition has this slug."
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 1}}
}


@cache
def _schemas() -> dict:
    _, top = models_json_schema(
        [(model, "validation") for model in models.REQUESTS]
        + [(model, "serialization") for model in models.ANSWERS],
        ref_template=REF,
    )
    return top["$defs"]


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def _json(
    description: str,
    model: type[BaseModel],
    headers: dict | None = None,
    links: dict | None = None,
) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": _ref(model)}}}
    if headers:
        answer["headers"] = headers
    if links:
        answer["links"] = links
    return answer


# The slug an answer about a petition was asked for, as a link passes it on.
_SAME_SLUG = {"slug": "$request.path.slug"}


def _link(operation_id: str, description: str, **parameters: str) -> dict:
    """An OpenAPI link: where a client can go next with values from this answer (runtime
    expressions), e.g. from a petition to its log."""
    return {
        "operationId": operation_id,
        "description": description,
        "parameters": _SAME_SLUG | parameters,
    }


def _body(model: type[BaseModel]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _slug() -> dict:
    return {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, required: bool = True, minimum: int = 0) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": minimum},
    }


def _operation(
    operation_id: str,
    summary: str,
    answers: dict,
    *,
    parameters: tuple = (),
    body: type[BaseModel] | None = None,
    errors: dict[int, str] | None = None,
    rate_limited: bool = False,
    database: bool = True,
    description: str | None = None,
) -> dict:
    """An operation: its own ``answers``, its ``errors`` (status: what the Error says), and the
    errors every request may meet (a NUL character; a busy or unreachable database where it
    reads one)."""
    errors = dict(errors or {})
    errors[400] = f"{errors[400]} Or {_NUL}" if 400 in errors else _NUL
    responses = {str(status): answer for status, answer in answers.items()}
    for status, text in errors.items():
        responses[str(status)] = _json(text, models.Error)
    if body is not None:
        responses["413"] = _json(_TOO_LARGE, models.Error)
    if rate_limited:
        responses["429"] = _json(_RATE_LIMITED, models.RateLimited, _RETRY_AFTER)
    if database:
        responses["503"] = _json(_BUSY, models.Error, _RETRY_AFTER)
    operation = {"operationId": operation_id, "summary": summary}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = _body(body)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _log_paths() -> dict:
    return {
        "/api/v1/petitions/{slug}/log": {
            "get": _operation(
                "getLogLeaves",
                "The petition's log leaves in order, paged.",
                {
                    200: _json(
                        "A page of leaves.",
                        models.Leaves,
                        links={
                            "InclusionProof": _link(
                                "getInclusionProof",
                                "The proof that the page's first leaf is in the log.",
                                index="$response.body#/leaves/0/index",
                                size="$response.body#/size",
                            ),
                            "Cancellations": _link(
                                "getCancellations",
                                "What cancels the page's first leaf, if anything does.",
                                index="$response.body#/leaves/0/index",
                            ),
                        },
                    )
                },
                parameters=(
                    _slug(),
                    _query("start", "first leaf (default 0)", False),
                    _query(
                        "limit", "leaves per page (default 100, at most 1000)", False, minimum=1
                    ),
                ),
                errors={
                    400: "invalid_parameter: start or limit is not a whole number, or too small.",
                    404: _NOT_FOUND,
                },
            )
        },
        "/api/v1/petitions/{slug}/log/head": {
            "get": _operation(
                "getLogHead",
                "The newest signed tree head.",
                {
                    200: _json(
                        "The head.",
                        models.Head,
                        links={
                            "InclusionProof": _link(
                                "getInclusionProof",
                                "A leaf's proof of inclusion in the tree this head signs.",
                                size="$response.body#/size",
                            ),
                            "ConsistencyProof": _link(
                                "getConsistencyProof",
                                "The proof that an earlier tree is a prefix of this one.",
                                second="$response.body#/size",
                            ),
                        },
                    )
                },
                parameters=(_slug(),),
                errors={404: "not_found: unknown petition; or no_head: no head yet."},
            )
        },
        "/api/v1/petitions/{slug}/log/proof": {
            "get": _operation(
                "getInclusionProof",
                "RFC 6962 inclusion proof of a leaf in the tree of `size` leaves.",
                {200: _json("The audit path.", models.InclusionProof)},
                parameters=(
                    _slug(),
                    _query("index", "the leaf"),
                    _query("size", "tree size", minimum=1),
                ),
                errors={
                    400: "invalid_parameter: index or size missing or out of range.",
                    404: _NOT_FOUND,
                },
            )
        },
        "/api/v1/petitions/{slug}/log/cancellations": {
            "get": _operation(
                "getCancellations",
                "The leaves that cancel a signature leaf (an invalidation or a withdrawal), with "
                "their bytes and the reason in words: empty while the signature counts.",
                {200: _json("The cancelling leaves, oldest first.", models.Cancellations)},
                parameters=(_slug(), _query("index", "the signature leaf")),
                errors={
                    400: "invalid_parameter: index missing or not a whole number.",
                    404: _NOT_FOUND,
                },
            )
        },
        "/api/v1/petitions/{slug}/log/consistency": {
            "get": _operation(
                "getConsistencyProof",
                "RFC 6962 consistency proof between two tree sizes.",
                {200: _json("The proof.", models.ConsistencyProof)},
                parameters=(
                    _slug(),
                    _query("first", "the smaller size", minimum=1),
                    _query("second", "the larger size", minimum=1),
                ),
                errors={
                    400: "invalid_parameter: sizes missing or out of range.",
                    404: _NOT_FOUND,
                },
            )
        },
        "/api/v1/petitions/{slug}/evidence": {
            "get": _operation(
                "getEvidencePack",
                "The evidence pack (JSON Lines) that `flask log verify FILE` reads.",
                {
                    200: {
                        "description": "A header line, then one line per leaf.",
                        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                    }
                },
                parameters=(_slug(),),
                errors={404: _NOT_FOUND},
            )
        },
        "/p/{slug}/log/checkpoint": {
            "get": {
                "operationId": "getCheckpoint",
                "summary": "The newest signed head as a C2SP tlog-checkpoint signed note.",
                "description": "The note text is the log's origin (BASE_URL's host and path, "
                "then /p/{slug}/log), the tree size and the base64 root hash; then a blank "
                "line, the log's Ed25519 note signature (key name: the origin) and every "
                "witness cosignature (cosignature/v1) gathered for that head. `flask log "
                "vkey --slug SLUG` prints the log's verifier key.",
                "parameters": [
                    _slug(),
                    _query("size", "the head of this size instead of the newest", False),
                ],
                "responses": {
                    str(status): {
                        "description": text,
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                    for status, text in {
                        200: "The signed note.",
                        400: "size is not a whole number.",
                        404: "No published petition has this slug, or no head of that size.",
                    }.items()
                },
            }
        },
        "/api/v1/log/public-key": {
            "get": _operation(
                "getLogPublicKey",
                "The Ed25519 public key that signs tree heads (base64, raw 32 bytes).",
                {200: _json("The key.", models.PublicKey)},
                database=False,
            )
        },
    }


def _paths() -> dict:
    return {
        **_log_paths(),
        "/api/v1/petitions/{slug}": {
            "get": _operation(
                "getPetition",
                "A petition's state, count and threshold, and whether links are arriving slowly.",
                {
                    200: _json(
                        "The petition.",
                        models.Petition,
                        links={
                            "LiveCount": _link("getLiveCount", "The petition's live count."),
                            "Sign": _link("requestSignature", "Ask to sign the petition."),
                            "LogLeaves": _link("getLogLeaves", "The petition's log leaves."),
                            "LogHead": _link("getLogHead", "The newest signed head of its log."),
                            "EvidencePack": _link("getEvidencePack", "Its evidence pack."),
                        },
                    )
                },
                parameters=(_slug(),),
                errors={404: _NOT_FOUND},
            )
        },
        "/api/v1/petitions/{slug}/signatures": {
            "post": _operation(
                "requestSignature",
                "Ask to sign; what happens next is said only in the e-mail.",
                {
                    202: _json(
                        "The same answer for every well-formed address, on the roll or not; "
                        "while links are arriving slowly it says about how long they take "
                        "(mail_delay_seconds), the same for everyone.",
                        models.CheckEmail,
                    )
                },
                parameters=(_slug(),),
                body=models.SignRequest,
                errors={
                    400: "invalid_json: not a JSON object; invalid_email: no address, or a "
                    "malformed one; invalid_member_id: a membership number that cannot be one.",
                    404: _NOT_FOUND,
                    409: "petition_closed: the petition is closed.",
                },
                rate_limited=True,
            )
        },
        "/api/v1/petitions/{slug}/count": {
            "get": _operation(
                "getLiveCount",
                "The live count, for pages that poll it (about once a second).",
                {
                    200: _json(
                        "The count.",
                        models.LiveCount,
                        links={
                            "Petition": _link(
                                "getPetition",
                                "The petition counted.",
                                slug="$response.body#/slug",
                            )
                        },
                    )
                },
                description="Cheap whatever the number of signatures: each web process "
                "reads the maintained counter at most twice a second and answers everyone "
                "from that. Sent with Cache-Control: public, max-age=1; a confirmation shows "
                "within a second.",
                parameters=(_slug(),),
                errors={404: _NOT_FOUND},
            )
        },
        "/api/v1/signatures/confirm": {
            "post": _operation(
                "confirmSignature",
                "Confirm the signature an e-mailed link names; counts once.",
                {200: _json("confirmed (with a receipt) or already_signed.", models.ConfirmAnswer)},
                body=models.ConfirmRequest,
                errors={
                    400: "invalid_token: no token, or not a valid one; expired_token: the link "
                    "has expired.",
                    403: "not_in_good_standing: the member is no longer in good standing; "
                    "not_on_committed_roll: the member is not on the roll committed for this "
                    "petition (they joined after it opened, or since its last re-commit).",
                    409: "petition_closed: the petition is closed.",
                },
                rate_limited=True,
            )
        },
        "/api/v1/openapi.json": {
            "get": _operation(
                "getOpenApi",
                "This document.",
                {
                    200: {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                database=False,
            )
        },
        "/healthz": {
            "get": _operation(
                "getHealth",
                "Whether the database and the queue answer.",
                {
                    200: _json("Everything needed answers.", models.Health),
                    503: _json("Something needed does not answer; it is named.", models.Health),
                },
                database=False,
            )
        },
    }


def document() -> dict:
    """The OpenAPI document as a dict, ready to serialise."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Petitions API",
            "version": "1",
            "description": "Member petitions that trigger an all-member vote, counted in the open.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "components": {"schemas": copy.deepcopy(_schemas())},
    }
