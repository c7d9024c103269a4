"""The JSON API: a petition's public record, its 404s, and the OpenAPI document."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from petitions.db.models import Petition
from petitions.web.api import models


def make_petition(db, slug="fair-pay", *, state="open", **fields):
    """Insert a petition in ``state`` with a threshold of 400."""
    fields.setdefault("threshold", None if state == "draft" else 400)
    petition = Petition(
        slug=slug,
        title=fields.pop("title", "Fair pay for all staff"),
        state=state,
        threshold_absolute=400,
        **fields,
    )
    db.add(petition)
    db.commit()
    return petition


def test_petition_record_has_exactly_the_published_fields(client, db):
    make_petition(
        db,
        signature_count=123,
        closes_at=datetime(2099, 12, 31, 18, 0, tzinfo=UTC),
        webhook_url="https://ballot.example.org/secret-hook",
    )
    response = client.get("/api/v1/petitions/fair-pay")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "slug": "fair-pay",
        "title": "Fair pay for all staff",
        "state": "open",
        "count": 123,
        "threshold": 400,
        "reached_at": None,
        "closes_at": "2099-12-31T18:00:00Z",
        "by_region": {},
        "log": None,
        "mail_delay_seconds": None,
        "name_reports": 0,
    }


def test_a_triggered_petition_has_its_reached_time_in_utc(client, db):
    make_petition(
        db,
        state="triggered",
        signature_count=401,
        reached_at=datetime(2099, 3, 4, 5, 6, 7, tzinfo=UTC),
    )
    body = client.get("/api/v1/petitions/fair-pay").get_json()
    assert body["state"] == "triggered"
    assert body["reached_at"] == "2099-03-04T05:06:07Z"
    assert body["count"] == 401


def test_state_is_closed_once_the_closing_time_has_passed(client, db):
    make_petition(db, closes_at=datetime.now(UTC) - timedelta(seconds=1))
    make_petition(db, "closed-one", state="closed")
    assert client.get("/api/v1/petitions/fair-pay").get_json()["state"] == "closed"
    assert client.get("/api/v1/petitions/closed-one").get_json()["state"] == "closed"


@pytest.mark.parametrize("slug", ["draft-one", "no-such-petition", "UPPER", "a" * 300])
def test_drafts_and_unknown_petitions_are_a_json_404(client, db, slug):
    make_petition(db, "draft-one", state="draft", title="Secret draft")
    response = client.get(f"/api/v1/petitions/{slug}")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == "not_found"
    assert "Secret draft" not in response.get_data(as_text=True)
    assert set(body) == {"error", "message"}


def test_unknown_api_paths_and_methods_are_json_errors(client):
    response = client.get("/api/v1/nowhere")
    assert (response.status_code, response.get_json()["error"]) == (404, "not_found")
    response = client.post("/api/v1/petitions/fair-pay")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


# --- the OpenAPI document -------------------------------------------------------------------


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


CHECKPOINT = "/p/<slug>/log/checkpoint"


def _api_rules(app) -> dict[str, set[str]]:
    rules: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        # /api/docs/ is the page for people about the document, not a part of the API; the
        # checkpoint, plain text for transparency-log tools, is described with the API.
        if rule.rule.startswith("/api/v1/") or rule.rule in ("/healthz", CHECKPOINT):
            methods = {m.lower() for m in rule.methods} - {"head", "options"}
            rules.setdefault(_openapi_path(rule.rule), set()).update(methods)
    return rules


def test_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]


def test_openapi_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_openapi_schemas_are_the_models_schemas(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    ref = "#/components/schemas/{model}"
    for model in models.REQUESTS:
        assert schemas[model.__name__] == model.model_json_schema(ref_template=ref)
    for model in models.ANSWERS:
        generated = model.model_json_schema(ref_template=ref, mode="serialization")
        generated.pop("$defs", None)
        assert schemas[model.__name__] == generated, model.__name__


def test_openapi_describes_every_api_route_and_no_other(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    described = {path: set(operations) for path, operations in document["paths"].items()}
    assert described == _api_rules(app)
    assert "/api/v1/petitions/{slug}" in described


def test_openapi_references_resolve(client):
    document = client.get("/api/v1/openapi.json").get_json()
    text = str(document)
    for ref in re.findall(r"#/components/schemas/(\w+)", text):
        assert ref in document["components"]["schemas"]


def test_openapi_petition_schema_matches_a_real_answer(client, db):
    make_petition(db)
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Petition"]
    answer = client.get("/api/v1/petitions/fair-pay").get_json()
    assert set(schema["required"]) == set(answer)
    assert set(schema["properties"]) == set(answer)
    assert answer["state"] in schema["properties"]["state"]["enum"]


def test_openapi_health_schema_matches_a_real_answer(client):
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["Health"]
    answer = client.get("/healthz").get_json()
    assert set(schema["required"]) == set(answer)
    for field, value in answer.items():
        assert value in schema["properties"][field]["enum"]


def test_a_405_says_which_methods_are_allowed(client):
    # HTTP requires the Allow header on a 405; the API's JSON error and the HTML page keep it.
    response = client.put("/api/v1/petitions/fair-pay/log")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    page = client.delete("/privacy")
    assert page.status_code == 405
    assert page.mimetype == "text/html"
    assert "GET" in page.headers["Allow"]


def test_every_link_in_the_document_leads_to_an_operation_and_its_parameters(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operations = {
        operation["operationId"]: operation
        for methods in document["paths"].values()
        for operation in methods.values()
    }
    links = [
        (name, link)
        for operation in operations.values()
        for answer in operation["responses"].values()
        for name, link in answer.get("links", {}).items()
    ]
    assert len(links) >= 10
    for name, link in links:
        target = operations[link["operationId"]]
        names = {parameter["name"] for parameter in target.get("parameters", [])}
        assert set(link["parameters"]) <= names, name
        assert all(
            value.startswith(("$request.", "$response.")) for value in link["parameters"].values()
        )
