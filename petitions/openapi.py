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

_HEALTH = {
    "type": "object",
    "required": ["status", "database", "queue"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "database": {"type": "string", "enum": ["ok", "unavailable"]},
        "queue": {"type": "string", "enum": ["ok", "unavailable", "not_configured"]},
    },
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
        "components": {"schemas": {"Petition": _PETITION, "Health": _HEALTH, "Error": _ERROR}},
    }
