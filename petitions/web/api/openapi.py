"""The OpenAPI 3.1 description of the JSON API, written by hand and served at
/api/v1/openapi.json. A test checks that it lists every API route the app registers."""

_TIME = {"type": ["string", "null"], "format": "date-time"}

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable code, e.g. not_found."},
        "message": {"type": "string", "description": "A sentence for people."},
    },
}

_PETITION = {
    "type": "object",
    "required": [
        "slug",
        "title",
        "state",
        "count",
        "threshold",
        "reached_at",
        "closes_at",
        "by_region",
        "log",
    ],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
        "title": {"type": "string"},
        "state": {
            "type": "string",
            "enum": ["open", "triggered", "closed"],
            "description": "The state now: a petition past its closing time is closed. "
            "Drafts are not published (404).",
        },
        "count": {"type": "integer", "minimum": 0, "description": "Confirmed signatures."},
        "threshold": {
            "type": "integer",
            "minimum": 1,
            "description": "Signatures needed, frozen when the petition opened.",
        },
        "reached_at": {**_TIME, "description": "When the threshold was met (UTC), or null."},
        "closes_at": {**_TIME, "description": "When signing stops (UTC), or null."},
        "by_region": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
            "description": "Confirmed signatures per region of the signing members.",
        },
        "log": {
            "type": ["object", "null"],
            "description": "The head of the petition's public log; null until the log exists.",
            "properties": {
                "size": {"type": "integer", "minimum": 0},
                "root_hash": {"type": "string", "description": "Hex SHA-256."},
            },
        },
    },
}

_LIVE_COUNT = {
    "type": "object",
    "required": ["slug", "count", "threshold", "state", "reached_at", "log_size"],
    "properties": {
        "slug": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
        "count": {"type": "integer", "minimum": 0, "description": "Confirmed signatures."},
        "threshold": {"type": "integer", "minimum": 1},
        "state": {"type": "string", "enum": ["open", "triggered", "closed"]},
        "reached_at": {**_TIME, "description": "When the threshold was met (UTC), or null."},
        "log_size": {
            "type": "integer",
            "minimum": 0,
            "description": "Leaves in the petition's public log (signatures and cancellations).",
        },
    },
}

_HEALTH = {
    "type": "object",
    "required": ["status", "database", "queue"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unavailable"]},
        "queue": {"type": "string", "enum": ["ok", "unavailable", "not_configured"]},
    },
}


_SIGN_REQUEST = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "description": "The address, as the member types it."},
        "member_id": {
            "type": ["string", "null"],
            "maxLength": 64,
            "description": "The membership number; needed where members share an address.",
        },
    },
}

_CHECK_EMAIL = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "check_email"}},
}

_CONFIRM_REQUEST = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string", "description": "The token of an e-mailed link."}},
}

_CONFIRMED = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["confirmed", "already_signed"]},
        "receipt": {
            "type": "object",
            "description": "With confirmed: which signature this is.",
            "properties": {
                "petition": {"type": "string"},
                "number": {"type": "integer", "minimum": 1},
                "confirmed_at": {"type": "string", "format": "date-time"},
                "leaf_index": {"type": "integer", "description": "The signature's log leaf."},
                "leaf_hash": {"type": "string", "description": "Its leaf hash, hex."},
            },
        },
    },
}


_HEAD = {
    "type": "object",
    "required": ["size", "root_hash", "timestamp", "signature"],
    "properties": {
        "size": {"type": "integer", "minimum": 0},
        "root_hash": {"type": "string", "description": "Hex SHA-256 (RFC 6962 tree hash)."},
        "timestamp": {"type": "string", "format": "date-time"},
        "signature": {
            "type": "string",
            "description": "Base64 Ed25519 signature of the canonical JSON "
            '{"petition","root_hash","size","timestamp"} (sorted keys, no spaces).',
        },
    },
}

_LEAVES = {
    "type": "object",
    "required": ["size", "start", "leaves", "next"],
    "properties": {
        "size": {"type": "integer"},
        "start": {"type": "integer"},
        "next": {"type": ["integer", "null"], "description": "start of the next page"},
        "leaves": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "leaf_input": {"type": "string", "description": "The leaf's bytes, base64."},
                    "leaf_hash": {"type": "string", "description": "SHA-256(0x00 || leaf), hex."},
                },
            },
        },
    },
}

_PROOF = {
    "type": "object",
    "properties": {
        "index": {"type": "integer"},
        "size": {"type": "integer"},
        "leaf_hash": {"type": "string"},
        "audit_path": {"type": "array", "items": {"type": "string"}},
    },
}

_CONSISTENCY = {
    "type": "object",
    "properties": {
        "first": {"type": "integer"},
        "second": {"type": "integer"},
        "consistency": {"type": "array", "items": {"type": "string"}},
    },
}


def _slug() -> dict:
    return {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, required: bool = True) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def _log_paths() -> dict:
    not_found = _json("No published petition has this slug.", "Error")
    return {
        "/api/v1/petitions/{slug}/log": {
            "get": {
                "operationId": "getLogLeaves",
                "summary": "The petition's log leaves in order, paged.",
                "parameters": [
                    _slug(),
                    _query("start", "first leaf (default 0)", False),
                    _query("limit", "leaves per page (default 100, at most 1000)", False),
                ],
                "responses": {"200": _json("A page of leaves.", "Leaves"), "404": not_found},
            }
        },
        "/api/v1/petitions/{slug}/log/head": {
            "get": {
                "operationId": "getLogHead",
                "summary": "The newest signed tree head.",
                "parameters": [_slug()],
                "responses": {
                    "200": _json("The head.", "Head"),
                    "404": _json("Unknown petition, or no head yet (no_head).", "Error"),
                },
            }
        },
        "/api/v1/petitions/{slug}/log/proof": {
            "get": {
                "operationId": "getInclusionProof",
                "summary": "RFC 6962 inclusion proof of a leaf in the tree of `size` leaves.",
                "parameters": [_slug(), _query("index", "the leaf"), _query("size", "tree size")],
                "responses": {
                    "200": _json("The audit path.", "InclusionProof"),
                    "400": _json("index or size out of range.", "Error"),
                    "404": not_found,
                },
            }
        },
        "/api/v1/petitions/{slug}/log/consistency": {
            "get": {
                "operationId": "getConsistencyProof",
                "summary": "RFC 6962 consistency proof between two tree sizes.",
                "parameters": [
                    _slug(),
                    _query("first", "the smaller size"),
                    _query("second", "the larger size"),
                ],
                "responses": {
                    "200": _json("The proof.", "ConsistencyProof"),
                    "400": _json("Sizes out of range.", "Error"),
                    "404": not_found,
                },
            }
        },
        "/api/v1/petitions/{slug}/evidence": {
            "get": {
                "operationId": "getEvidencePack",
                "summary": "The evidence pack (JSON Lines) that `flask log verify FILE` reads.",
                "parameters": [_slug()],
                "responses": {
                    "200": {
                        "description": "A header line, then one line per leaf.",
                        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                    },
                    "404": not_found,
                },
            }
        },
        "/api/v1/log/public-key": {
            "get": {
                "operationId": "getLogPublicKey",
                "summary": "The Ed25519 public key that signs tree heads (base64, raw 32 bytes).",
                "responses": {
                    "200": {
                        "description": "The key.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _body(ref: str) -> dict:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _json(description: str, ref: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
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
        "paths": {
            **_log_paths(),
            "/api/v1/petitions/{slug}": {
                "get": {
                    "operationId": "getPetition",
                    "summary": "A petition's state, count and threshold.",
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json("The petition.", "Petition"),
                        "404": _json("No published petition has this slug.", "Error"),
                    },
                }
            },
            "/api/v1/petitions/{slug}/signatures": {
                "post": {
                    "operationId": "requestSignature",
                    "summary": "Ask to sign; what happens next is said only in the e-mail.",
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": _body("SignRequest"),
                    "responses": {
                        "202": _json(
                            "The same answer for every well-formed address, on the roll or not.",
                            "CheckEmail",
                        ),
                        "400": _json("Not JSON, or a malformed address (invalid_email).", "Error"),
                        "404": _json("No published petition has this slug.", "Error"),
                        "409": _json("The petition is closed (petition_closed).", "Error"),
                    },
                }
            },
            "/api/v1/petitions/{slug}/count": {
                "get": {
                    "operationId": "getLiveCount",
                    "summary": "The live count, for pages that poll it (about once a second).",
                    "description": "Cheap whatever the number of signatures: each web process "
                    "reads the maintained counter at most twice a second and answers everyone "
                    "from that. Sent with Cache-Control: public, max-age=1; a confirmation shows "
                    "within a second.",
                    "parameters": [_slug()],
                    "responses": {
                        "200": _json("The count.", "LiveCount"),
                        "404": _json("No published petition has this slug.", "Error"),
                    },
                }
            },
            "/api/v1/signatures/confirm": {
                "post": {
                    "operationId": "confirmSignature",
                    "summary": "Confirm the signature an e-mailed link names; counts once.",
                    "requestBody": _body("ConfirmRequest"),
                    "responses": {
                        "200": _json("confirmed (with a receipt) or already_signed.", "Confirmed"),
                        "400": _json("invalid_token or expired_token.", "Error"),
                        "403": _json("The member is no longer in good standing.", "Error"),
                        "409": _json("The petition is closed (petition_closed).", "Error"),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "getHealth",
                    "summary": "Whether the database and the queue answer.",
                    "responses": {
                        "200": _json("Everything needed answers.", "Health"),
                        "503": _json("Something needed does not answer; it is named.", "Health"),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Petition": _PETITION,
                "LiveCount": _LIVE_COUNT,
                "Health": _HEALTH,
                "Error": _ERROR,
                "SignRequest": _SIGN_REQUEST,
                "CheckEmail": _CHECK_EMAIL,
                "ConfirmRequest": _CONFIRM_REQUEST,
                "Confirmed": _CONFIRMED,
                "Head": _HEAD,
                "Leaves": _LEAVES,
                "InclusionProof": _PROOF,
                "ConsistencyProof": _CONSISTENCY,
            }
        },
    }
