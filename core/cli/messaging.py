"""``dealercrm dispatch | worker | channels list | inbound``: the outbox and what comes back."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..channels import describe
from ..errors import ValidationError
from .common import a_count, err, open_crm, read_limited
from .output import Format, FormatOption, deprecated, examples, progress, say, show_list


def dispatch_outbox(crm, max_batches: int | None = None):
    """The outbox dispatched with a progress display (``output.progress``)."""
    with progress("messages") as shown:
        bar = shown.add_task("sending the outbox")
        return crm.outbox.dispatch(max_batches=max_batches, on_progress=lambda n: shown.advance(bar, n))


def register(cli: typer.Typer) -> None:
    @cli.command("dispatch", epilog=examples("dealercrm dispatch", "dealercrm --quiet dispatch --max-batches 10"))
    def dispatch(max_batches: Annotated[Optional[int], typer.Option(
            min=1, metavar="N", help="stop after this many batches")] = None) -> None:
        """Send what the outbox holds now (safe to run in several processes)."""
        say(dispatch_outbox(open_crm(), max_batches).summary())

    @cli.command("worker", epilog=examples("dealercrm worker", "dealercrm worker --interval 30 --max-seconds 3600"))
    def worker(interval: Annotated[float, typer.Option(min=0, metavar="SECONDS", help="seconds between rounds")]
               = 5.0,
               max_seconds: Annotated[Optional[float], typer.Option(
                   min=0, metavar="SECONDS", help="stop after this long (default: run until stopped)")] = None,
               ) -> None:
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
                    say(f"{ticked.summary()}; rules acted {acted} times; {sent.summary()}")
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
        say("worker stopped")

    channels = typer.Typer(help="The channels the plugins provide.", invoke_without_command=True)
    cli.add_typer(channels, name="channels")

    @channels.callback()
    def channels_bare(ctx: typer.Context) -> None:
        """The channels the plugins provide (``dealercrm channels list``)."""
        if ctx.invoked_subcommand is None:
            deprecated("channels", "channels list")
            list_channels(Format.table)

    @channels.command("list", epilog=examples("dealercrm channels list", "dealercrm channels list --format json"))
    def list_channels(fmt: FormatOption = Format.table) -> None:
        """Each channel: what it is for, whose consent it needs, where it sends, and its plugin."""
        crm = open_crm()
        items = [{"channel": name, **describe(channel), "plugin": crm.channel_owners.get(name)}
                 for name, channel in sorted(crm.channels.items())]

        def table() -> Table:
            t = Table("channel", "purposes", "consent for", "address", "needs consent for", "inbound", "plugin")
            for d in items:
                t.add_row(d["channel"], ", ".join(d["purposes"]), d["consent_channel"] or "—", d["address_field"] or "—",
                          ", ".join(d["consent_required_for"]) or "—", "yes" if d["inbound"] else "no",
                          d["plugin"] or "?")
            return t

        show_list(fmt, items, table)

    inbound = typer.Typer(help="Messages received.", no_args_is_help=True)
    cli.add_typer(inbound, name="inbound")

    @inbound.command("receive", epilog=examples(
        "dealercrm inbound receive email reply.eml",
        "dealercrm inbound receive sms body.json -H 'Content-Type: application/json'",
        "cat reply.eml | dealercrm inbound receive email -"))
    def receive(channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="the channel it came in on, e.g. "
                                                                                "email or sms")],
                file: Annotated[Optional[Path], typer.Argument(metavar="FILE", help="the raw message; - or none: "
                                                                                    "stdin")] = None,
                header: Annotated[Optional[list[str]], typer.Option(
                    "--header", "-H", metavar="HEADER", help="a header as the provider sent it, 'Name: value'; "
                    "repeatable")] = None) -> None:
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
        if msg.status == "malformed":
            err.print(line, markup=False, highlight=False)
        else:
            say(line, markup=False, highlight=False)

    @inbound.command("triage", epilog=examples("dealercrm inbound triage", "dealercrm inbound triage --format csv"))
    def triage(limit: Annotated[int, a_count(help="at most this many, oldest first")] = 100,
               fmt: FormatOption = Format.table) -> None:
        """Messages waiting for a person: unknown senders and malformed payloads."""
        crm = open_crm()
        found = crm.inbound.triage(limit, by=crm.system)
        items = [{"id": m.id, "channel": m.channel, "received_at": m.received_at, "status": m.status,
                  "sender": m.sender, "subject": m.subject, "parse_error": m.parse_error} for m in found]

        def table() -> Table:
            t = Table("id", "channel", "received", "status", "sender", "subject / error")
            for m in found:
                t.add_row(str(m.id), m.channel, f"{m.received_at:%Y-%m-%d %H:%M}", m.status, escape(m.sender or "—"),
                          escape(m.parse_error or m.subject or m.raw[:60]))
            return t

        show_list(fmt, items, table, columns=("id", "channel", "received_at", "status", "sender", "subject",
                                              "parse_error"))
