from datetime import timedelta

from dealercrm.workflow import DeadlinePolicy, to_mermaid, to_text
from dealercrm.workflow.render import describe_deadline
from dealercrm.workflows.service_case import SERVICE_CASE


def test_deadlines_read_as_working_time_or_wall_clock():
    assert describe_deadline(DeadlinePolicy(timedelta(hours=18))) == "due within 18h working time"
    assert describe_deadline(DeadlinePolicy(timedelta(days=14), business=False)) == "due within 14d wall clock"
    assert describe_deadline(DeadlinePolicy(timedelta(minutes=90))) == "due within 1h30m working time"


def test_the_mermaid_diagram_shows_every_state_owner_deadline_and_transition():
    text = to_mermaid(SERVICE_CASE)
    lines = text.splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> reported"]
    assert "    note right of manufacturer_review : owner manufacturer, due within 18h working time" in lines
    assert "    closed --> [*]" in lines
    assert "    manufacturer_review --> dealer_decision : escalate (timeout) by system" in lines
    assert "    dealer_decision --> refunded : refund by dealer(manager)" in lines
    arrows = [line for line in lines if " --> " in line and "[*]" not in line]
    assert len(arrows) == len(SERVICE_CASE.transitions)


def test_mermaid_labels_never_contain_a_second_colon():
    for line in to_mermaid(SERVICE_CASE).splitlines():
        assert line.count(":") <= 1, line


def test_the_text_listing_tells_who_owns_each_state_and_who_may_move_it():
    text = to_text(SERVICE_CASE)
    assert text.startswith("workflow service_case (initial: reported)\n")
    assert "awaiting_confirmation  [owner customer, due within 14d wall clock, waits on customer]" in text
    assert "closed  [final]" in text
    schedule = next(line for line in text.splitlines() if line.strip().startswith("schedule_visit"))
    assert "-> visit_scheduled" in schedule
    assert "by technician  needs visit_at  if visit_within_deadline" in schedule
    for state in SERVICE_CASE.states:
        assert f"\n{state.name}  [" in text
    assert "\n  premium  [contract premium]  reported 2h, dealer_diagnosis 4h, manufacturer_review 9h," in text
