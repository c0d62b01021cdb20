"""Issue #14, finding 10: the access log kept the personal data of query strings.

``GET /customers?q=Erika Musterfrau`` and ``?external_id=K-4711`` went into uvicorn's
access log as they were: names, e-mail addresses and DMS numbers in a file that an
erasure cannot reach. A real ``dealercrm serve`` at default settings now logs each
request with its path and the names of its query parameters — never their values.
"""

from __future__ import annotations

import httpx
import pytest
import dealercrm
from dealercrm.settings import Settings

PERSONAL = ("Erika", "erika", "Musterfrau", "example.org", "%40", "K-4711", "0171", "5550100")


@pytest.fixture(scope="module")
def logged(tmp_path_factory, dealercrm_serve):
    """The access log of a server that was asked about Erika by name, e-mail, phone and DMS number."""
    folder = tmp_path_factory.mktemp("access-log")
    url = f"sqlite:///{folder}/crm.db"
    crm = dealercrm.connect(url, settings=Settings())
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    schmidt = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
    key = crm.api_keys.create(schmidt.id, "service", by=crm.system).key
    crm.close()
    log = folder / "serve.log"
    headers = {"Authorization": f"Bearer {key}"}
    with dealercrm_serve(folder, url, log=log) as base:  # no --log-level: the defaults, access log on
        created = httpx.post(f"{base}/customers", headers=headers, timeout=10, json={
            "name": "Erika Musterfrau", "email": "erika@example.org", "phone": "0171 5550100",
            "external_id": "K-4711"})
        assert created.status_code == 201, created.text
        answers = [httpx.get(f"{base}/customers", params=params, headers=headers, timeout=10) for params in (
            {"q": "Erika Musterfrau"}, {"q": "erika@example.org", "limit": 5}, {"external_id": "K-4711"},
            {"q": "0171 5550100"})]
        answers.append(httpx.get(f"{base}/customers?Erika%20Musterfrau", headers=headers, timeout=10))
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        assert [c["name"] for c in answers[0].json()["items"]] == ["Erika Musterfrau"]  # she was found
    return log.read_text(encoding="utf-8", errors="replace")


def test_each_request_is_logged_with_the_names_of_its_parameters(logged):
    assert '"POST /customers HTTP/1.1" 201' in logged
    assert logged.count('"GET /customers?q=* HTTP/1.1" 200') == 2
    assert '"GET /customers?q=*&limit=* HTTP/1.1" 200' in logged
    assert '"GET /customers?external_id=* HTTP/1.1" 200' in logged
    assert '"GET /customers?* HTTP/1.1"' in logged


@pytest.mark.parametrize("word", PERSONAL)
def test_no_personal_data_is_in_the_log(logged, word):
    assert word not in logged
