"""The OpenAPI document: committed, current, and honoured under generated input.

``docs/openapi.json`` is what client generators read; a change to the API that is not
regenerated (``dealercrm openapi --output docs/openapi.json``) fails here. Schemathesis
then sends generated requests — valid and invalid — to every operation, as the
dealer's service desk, and no answer may be a server error or break the document.
"""

from __future__ import annotations

import json
from pathlib import Path

import schemathesis
from api_world import forwarded, issue_keys
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks

from dealercrm.http import create_app, openapi_document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_current():
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == openapi_document(), (
        "docs/openapi.json is stale: run `dealercrm openapi --output docs/openapi.json`")


def test_every_operation_documents_its_problems_as_problem_json():
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            problems = {s: a for s, a in operation["responses"].items() if s[0] == "4"}
            assert problems or path == "/health", (method, path)
            for status, answer in problems.items():
                assert list(answer["content"]) == ["application/problem+json"], (method, path, status)


load_all_checks()
#: the answer is no server error and is what the document promises (status, content type, body,
#: headers). Not ``negative_data_rejection``: it reports "accepted" when the part it broke cannot be
#: sent at all (an invalid optional query value is dropped) or is our own Authorization header.
CHECKS = CHECK_REGISTRY.get_by_names(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                                      "response_headers_conformance", "response_schema_conformance"])
#: per operation and mode (valid, invalid input): ~30 operations x 2 x 10 requests, well under a minute
EXAMPLES = 10


def test_generated_requests_never_cause_a_server_error(world):
    """Driven through Hypothesis directly (schemathesis' lazy pytest loader does not run on pytest 9)."""
    forwarded(world)  # something to find: a customer, an asset, a case with history
    auth = {"Authorization": f"Bearer {issue_keys(world)['service']}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(world.crm))
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                case.call_and_validate(headers=auth, checks=CHECKS)

            try:
                call()
            except Unsatisfiable:  # no parameters to make invalid (GET /health)
                assert mode is GenerationMode.NEGATIVE and not operation.path_parameters and not operation.query
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001  (one report for every operation)
                failures[f"{operation.label} ({mode.value})"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
