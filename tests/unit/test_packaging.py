"""What a host gets from ``import dealercrm``: the small public API and nothing heavy."""

import subprocess
import sys

import dealercrm


def test_import_dealercrm_loads_no_cli_server_or_driver_packages():
    code = ("import sys, dealercrm; print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'typer', 'rich', 'psycopg', 'fastapi', 'uvicorn', 'alembic', 'holidays', 'pytest'})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_public_api_is_connect_hookimpl_errors_and_events():
    for name in ("connect", "hookimpl", "DealerCrmError", "NotFound", "ValidationError", "NotPermitted",
                 "TransitionNotAllowed", "Conflict", "PluginError", "WorkflowUnsound",
                 "CustomerRegistered", "InterestNoted", "CaseHandedOver", "CaseEscalated", "CaseClosed"):
        assert hasattr(dealercrm, name), name
    assert issubclass(dealercrm.Conflict, dealercrm.DealerCrmError)


def test_events_are_frozen_and_named_in_the_past_tense():
    import attrs
    import pytest

    from dealercrm.events import all_event_classes

    for cls in all_event_classes():
        assert attrs.has(cls) and any(word.endswith("ed") for word in cls.name.split("_")), cls
    event = dealercrm.CustomerRegistered(at=dealercrm.ManualClock().now(), customer_id=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.customer_id = 2
