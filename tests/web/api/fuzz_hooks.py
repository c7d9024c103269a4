"""Schemathesis hooks for fuzzing the JSON API (tests/web/api/test_fuzzing.py loads this file
into the `schemathesis run` it starts, through SCHEMATHESIS_HOOKS).

Random slugs, indexes and tokens almost never name anything, so every answer would be a 404 or
a 400. These hooks mix in the real ones of the service under test, which the test writes to the
JSON file PETITIONS_FUZZ_DATA names: the petitions' slugs, whole numbers around their log sizes,
roll addresses and confirmation tokens. Generated values are still sent too.

One more check runs on every answer: tests/api_contract.py's, the one every other API test
makes, which also holds paths and methods the document does not list to a JSON 404 or 405.
"""

import json
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import schemathesis
from hypothesis import strategies as st

from tests import api_contract

DATA = json.loads(Path(os.environ["PETITIONS_FUZZ_DATA"]).read_text())
# The query parameters that are leaf indexes or tree sizes.
LOG_NUMBERS = frozenset({"index", "size", "first", "second", "start", "limit"})


def _either(generated: dict, real: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(real, st.just(generated))


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """A real slug (open, triggered, closed, draft) or the generated one."""
    if not isinstance(path_parameters, dict) or "slug" not in path_parameters:
        return st.just(path_parameters)
    slugs = st.sampled_from(DATA["slugs"])
    return _either(path_parameters, slugs.map(lambda slug: {**path_parameters, "slug": slug}))


@schemathesis.hook
def flatmap_query(context, query):
    """Whole numbers from 0 to just past the largest log, for the log's indexes and sizes."""
    if not isinstance(query, dict):
        return st.just(query)
    names = [name for name, value in query.items() if name in LOG_NUMBERS and type(value) is int]
    if not names:
        return st.just(query)
    near = st.integers(min_value=0, max_value=DATA["largest_log"] + 1)
    real = st.fixed_dictionaries(dict.fromkeys(names, near)).map(lambda got: {**query, **got})
    return _either(query, real)


@schemathesis.hook
def flatmap_body(context, body):
    """A roll address to sign with, or a real confirmation token to confirm."""
    if not isinstance(body, dict):
        return st.just(body)
    if context.operation.path.endswith("/signatures") and isinstance(body.get("email"), str):
        emails = st.sampled_from(DATA["emails"])
        return _either(body, emails.map(lambda email: {**body, "email": email}))
    if context.operation.path.endswith("/confirm") and isinstance(body.get("token"), str):
        tokens = st.sampled_from(DATA["tokens"])
        return _either(body, tokens.map(lambda token: {**body, "token": token}))
    return st.just(body)


@schemathesis.check
def documented_in_openapi(ctx, response, case):
    """The answer is one the OpenAPI document describes (tests/api_contract.py). OPTIONS is
    left out: Flask answers it for every route with the methods allowed, as HTTP asks."""
    request = response.request
    if request.method == "OPTIONS":
        return
    path = unquote(urlsplit(request.url).path)
    content_type = response.headers.get("content-type", [""])[0]
    mimetype = content_type.split(";", 1)[0].strip()
    body = response.content if mimetype == "application/json" else b""
    api_contract.check(request.method, path, response.status_code, mimetype, body)
