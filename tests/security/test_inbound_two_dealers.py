"""One address on files of two dealers: a reply goes to the file of the case it names, or to nobody.

E-mail addresses are unique per dealer only and phone numbers nowhere, so the same person
may be a customer of two dealers — "and one dealer must never learn that from dealercrm" —
and a dealer may give one of its files another dealer's customer's address, by mistake or
on purpose. The inbound relay must never hand her words to the wrong dealer: the case a
reply names decides whose it is; with no case named and files at more than one dealer, it
waits in triage like an unknown sender's.
"""

from __future__ import annotations

RELAY_SECRET = "relay-secret-two-dealers-4c71d0e2"
RELAY = {"email": {"secret": RELAY_SECRET}}


def reply(sender: str, subject: str, text: str) -> bytes:
    """An e-mail reply as the mail relay posts it to ``/inbound/email``."""
    return (f"From: <{sender}>\r\nTo: service@elektro-schmidt.example\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n").encode()


def relay(api, raw: bytes):
    answer = api.post("/inbound/email", content=raw, headers={"X-Dealercrm-Inbound-Secret": RELAY_SECRET})
    assert answer.status_code == 202, answer.text
    return answer


def test_another_dealer_cannot_capture_a_customers_replies_by_giving_one_of_its_files_her_address(inbound_api):
    """**High.** ``InboundService._sender`` takes the *lowest* customer id with the sender's
    e-mail (or phone) across all dealers — but e-mail is unique only per dealer and a phone
    nowhere (finding #5 of issue #14). So a competing dealer edits one of its own older
    files to carry the address of the other dealer's customer (``PATCH /customers/{id}``,
    any role), and from then on every reply she sends to *her* dealer — the answer to a
    case, "still broken", an opt-out, her door code — lands on the attacker's file: on its
    timeline and in a task with the full text, readable over the API. Her own dealer never
    sees it, her case is not reopened, and erasing her file does not erase it (it is
    attached to the attacker's customer).

    Reproduce: as dealer B, ``PATCH /customers/<B's older customer> {"email": "<A's
    customer's address>"}``; the customer replies "Re: Fall <A's case>" through the relay;
    ``GET /customers/<B's customer>/timeline`` as B shows the text.

    Suggested fix: resolve the sender among *all* customers (and contact persons) with the
    address; a message naming a case (In-Reply-To, "Fall N", the webhook's ``case_id``)
    goes to the customer of that case; otherwise, with candidates at more than one dealer,
    triage as an unknown sender (never attach to one dealer's file on a guess)."""
    api, world = inbound_api(inbound=RELAY)
    uwe = api.as_("other_dealer")
    # Küchenwelt's file, older than the victim's (a low id is all the attack needs)
    decoy = api.post("/customers", headers=uwe, json={"name": "Otto Alt", "email": "otto@alt.example"}).json()
    hanna = api.post("/customers", headers=api.as_("service"),
                     json={"name": "Hanna Neu", "email": "hanna@neu.example"}).json()
    case = api.post("/cases", headers=api.as_("service"), json={"customer_id": hanna["id"], "summary": "fridge warm"})
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]

    assert api.patch(f"/customers/{decoy['id']}", headers=uwe, json={"email": "hanna@neu.example"}).status_code == 200
    relay(api, reply("hanna@neu.example", f"Re: Fall {case_id}", "The door code is 4711, come any time."))

    stolen = api.get(f"/customers/{decoy['id']}/timeline", headers=uwe).json()["items"]
    tasks = api.get("/tasks", headers=uwe).json()["items"]
    assert not [i for i in stolen if "4711" in i["summary"]], "another dealer reads the customer's reply"
    assert not [t for t in tasks if "4711" in (t.get("note") or "")], "another dealer got a task with her reply"
    mine = api.get(f"/customers/{hanna['id']}/timeline", headers=api.as_("service")).json()["items"]
    assert [i for i in mine if "4711" in i["summary"]], "her own dealer never sees her reply"


def test_a_reply_naming_a_case_goes_to_that_cases_dealer_when_two_dealers_share_the_customer(inbound_api):
    """**High** (the same defect without malice). The README allows one person to be a
    customer of two dealers, "and one dealer must never learn that from dealercrm". Erika is
    Elektro Schmidt's customer (the older file) and also Küchenwelt's. Her reply to
    *Küchenwelt's* case ("Re: Fall N — still broken") is attached to Schmidt's file: Schmidt
    gets a task with the text (and so learns she deals with Küchenwelt, and what about),
    while Küchenwelt's case is neither reopened nor told.

    Reproduce: both dealers file erika@example.org; Küchenwelt's case waits for her
    confirmation; she replies "still broken" naming that case; the case stays as it was
    and Schmidt's tasks hold her words.

    Suggested fix: as above — the case the message names decides the customer."""
    api, world = inbound_api(inbound=RELAY)
    uwe = api.as_("other_dealer")
    hers = api.post("/customers", headers=uwe, json={"name": "Erika Musterfrau", "email": "erika@example.org"})
    assert hers.status_code == 201, hers.text
    case_id = api.post("/cases", headers=uwe, json={"customer_id": hers.json()["id"],
                                                   "summary": "dishwasher leaks"}).json()["id"]
    for trigger in ("start_diagnosis", "solve_by_advice"):
        assert api.post(f"/cases/{case_id}/transitions", headers=uwe, json={"trigger": trigger}).status_code == 200

    relay(api, reply("erika@example.org", f"Re: Fall {case_id}", "still broken, it leaks onto the parquet"))

    assert api.get(f"/cases/{case_id}", headers=uwe).json()["state"] == "dealer_diagnosis", \
        "her 'still broken' did not reach the case she answered"
    schmidt = api.get("/tasks", headers=api.as_("service")).json()["items"]
    assert not [t for t in schmidt if "parquet" in (t.get("note") or "") or "parquet" in t["title"]], \
        "the other dealer read a reply that was not meant for it"


def test_a_reply_naming_no_case_from_an_address_two_dealers_hold_waits_in_triage(inbound_api):
    """Neither dealer gets it on a guess: the message is kept, in triage, on nobody's file."""
    api, world = inbound_api(inbound=RELAY)  # Erika is Elektro Schmidt's, and now Küchenwelt's too
    made = api.post("/customers", headers=api.as_("other_dealer"), json={"name": "Erika Musterfrau",
                                                                         "email": world.customer.email})
    assert made.status_code == 201, made.text
    stored = relay(api, reply(world.customer.email, "a question", "when do you open on Saturday?")).json()
    message = world.crm.inbound.get(stored["id"], by=world.crm.system)
    assert (message.status, message.customer_id) == ("triage", None)
    for who in ("service", "other_dealer"):
        tasks = api.get("/tasks", headers=api.as_(who)).json()["items"]
        assert not [t for t in tasks if "Saturday" in (t.get("note") or "")], who


def test_a_customer_of_one_dealer_still_gets_her_replies_naming_no_case(inbound_api):
    api, world = inbound_api(inbound=RELAY)
    stored = relay(api, reply(world.customer.email, "hello", "the washer is fine now")).json()
    message = world.crm.inbound.get(stored["id"], by=world.crm.system)
    assert (message.status, message.customer_id) == ("attached", world.customer.id)
