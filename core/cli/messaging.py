"""``dealercrm dispatch | worker | channels | inbound``: the outbox and what comes back."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..channels import describe
from ..errors import ValidationError
from .common import console, err, open_crm, read_limited


def register(cli: typer.Typer) -> None:
    @cli.command("dispatch")
    def dispatch(max_batches: Annotated[Optional[int], typer.Option(help="stop after this many batches")] = None) -> None:
        """Send what the outbox holds now (safe to run in several processes)."""
        console.print(open_crm().outbox.dispatch(max_batches=max_batches).summary())

    @cli.command("worker")
    def worker(interval: Annotated[float, typer.Option(help="seconds between rounds")] = 5.0,
               max_seconds: Annotated[Optional[float], typer.Option(help="stop after this long")] = None) -> None:
        """Run continuously: escalate overdue cases, run rules, dispatch messages every INTERVAL seconds."""
        crm, stop = open_crm(), {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        started = time.monotonic()
        try:
            while not stop["now"] and (max_seconds is None or time.monotonic() - started < max_seconds):
                ticked = crm.cases.tick()
                acted = sum(o.fired for o in crm.rules.run())
                sent = crm.outbox.dispatch()
                if ticked.fired or acted or sent.batches:
                    console.print(f"{ticked.summary()}; rules acted {acted} times; {sent.summary()}")
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
        console.print("worker stopped")

    @cli.command("channels")
    def channels() -> None:
        """The channels the plugins provide."""
        crm = open_crm()
        table = Table("channel", "purposes", "consent for", "address", "needs consent for", "inbound", "plugin")
        for name, channel in sorted(crm.channels.items()):
            d = describe(channel)
            table.add_row(name, ", ".join(d["purposes"]), d["consent_channel"] or "—", d["address_field"] or "—",
                          ", ".join(d["consent_required_for"]) or "—", "yes" if d["inbound"] else "no",
                          crm.channel_owners.get(name, "?"))
        console.print(table)

    inbound = typer.Typer(help="Messages received.", no_args_is_help=True)
    cli.add_typer(inbound, name="inbound")

    @inbound.command("receive")
    def receive(channel: str, file: Annotated[Optional[Path], typer.Argument(help="raw message; - or none: stdin")] = None,
                header: Annotated[Optional[list[str]], typer.Option("--header", "-H",
                                                                    help="'Name: value', repeatable")] = None) -> None:
        """Take one raw inbound message (an e-mail, a webhook body) as the channel would receive it."""
        crm = open_crm()
        limit = crm.settings.http.max_body_bytes  # what the channel's HTTP endpoint would take
        if file is None or str(file) == "-":
            raw = sys.stdin.buffer.read(limit + 1)
            if len(raw) > limit:
                raise ValidationError("stdin", "-", f"is larger than {limit} bytes")
        else:
            raw = read_limited(file, "file", limit)
        headers = {}
        for item in header or []:
            name, sep, value = item.partition(":")
            if not sep or not name.strip():
                raise ValidationError("--header", item, "must look like 'Name: value'")
            headers[name.strip()] = value.strip()
        msg = crm.inbound.receive(channel, raw, headers)
        line = f"inbound {msg.id}: {msg.status}"
        if msg.customer_id:
            line += f", customer {msg.customer_id}"
        if msg.case_id:
            line += f", case {msg.case_id}"
        if msg.fired_trigger:
            line += f", {msg.fired_trigger}"
        if msg.parse_error:
            line += f" ({msg.parse_error})"
        (err if msg.status == "malformed" else console).print(line, markup=False, highlight=False)

    @inbound.command("triage")
    def triage() -> None:
        """Messages waiting for a person: unknown senders and malformed payloads."""
        table = Table("id", "channel", "received", "status", "sender", "subject / error")
        crm = open_crm()
        for m in crm.inbound.triage(by=crm.system):
            table.add_row(str(m.id), m.channel, f"{m.received_at:%Y-%m-%d %H:%M}", m.status, m.sender or "—",
                          m.parse_error or m.subject or m.raw[:60])
        console.print(table)
