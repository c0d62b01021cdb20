"""``dealercrm serve``, ``dealercrm keys …`` and ``dealercrm openapi``: the HTTP API.

FastAPI and uvicorn are imported inside the commands that need them (the ``server``
extra): ``keys`` works without them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table


from rich.markup import escape

from .common import an_id, an_id_value, console, err, fail, fmt_time, open_crm, write_text
from .output import Format, FormatOption, examples, say, show_list


def resolve_party(crm, party: str) -> int:
    """``--party`` takes a party id or its exact name."""
    if party.isascii() and party.isdigit():  # "²".isdigit() is True too
        return crm.parties.get(an_id_value("party", int(party)), by=crm.system).id
    return crm.parties.by_name(party, by=crm.system).id


def register(cli: typer.Typer) -> None:
    @cli.command("serve", epilog=examples("dealercrm serve", "dealercrm serve --host 0.0.0.0 --port 8080",
                                          "dealercrm --db postgresql+psycopg://crm:secret@db/crm serve --workers 4"))
    def serve(host: Annotated[str, typer.Option(metavar="ADDRESS", help="address to listen on")] = "127.0.0.1",
              port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="port to listen on")] = 8000,
              log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn's log level: critical, error, "
                                                     "warning, info, debug or trace")] = "info",
              workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="worker processes (PostgreSQL; "
                                                   "SQLite has one writer and is best served by one)")] = 1,
              threads: Annotated[int, typer.Option(min=2, max=1024, metavar="N", help="threads per worker process "
                                                   "that run the requests: at least the clients served at once; "
                                                   "writes beyond all but 8 of them wait without one, so reads "
                                                   "always find one")] = 40) -> None:
        """Serve the HTTP API (OpenAPI document at /openapi.json, browsable at /docs)."""
        try:
            import uvicorn

            from ..http import create_app
            from ..http.access_log import log_config
            from ..http.server import settle_heap
        except ImportError as exc:
            fail(f"the HTTP API needs the server extra: pip install 'dealercrm[server]' ({exc.name} is missing)")
        crm = open_crm()  # migrates once, before any worker starts
        url = crm.engine.url
        console.print(f"dealercrm API on http://{host}:{port} over {url.render_as_string(hide_password=True)}"
                      f"{f' ({workers} workers)' if workers > 1 else ''}")
        # the access log keeps the path and the names of query parameters, not their values (?q=<a name>)
        if workers == 1:
            app = create_app(crm, threads=threads)
            settle_heap()
            uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=log_config())
            return
        crm.close()
        os.environ["DEALERCRM_DATABASE_URL"] = url.render_as_string(hide_password=False)
        os.environ["DEALERCRM_HTTP_THREADS"] = str(threads)
        uvicorn.run("dealercrm.http.server:app", factory=True, workers=workers, host=host, port=port,
                    log_level=log_level, log_config=log_config())

    @cli.command("openapi", epilog=examples("dealercrm openapi --output docs/openapi.json",
                                            "dealercrm openapi | jq '.paths | keys'"))
    def openapi(output: Annotated[Optional[Path], typer.Option(
            metavar="FILE", help="write here instead of printing")] = None) -> None:
        """The OpenAPI document of the HTTP API (committed as docs/openapi.json)."""
        from ..http import openapi_document

        text = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            write_text(output, text, "--output")
            say(f"wrote {output}")

    keys = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
    cli.add_typer(keys, name="keys")

    @keys.command("create", epilog=examples(
        "dealercrm keys create --party 'Elektro Schmidt' --role service --label 'DMS Hamburg'",
        "dealercrm keys create --party 2 --actor 5"))
    def create(party: Annotated[str, typer.Option(metavar="PARTY", help="party id or name the key acts for")],
               role: Annotated[Optional[str], typer.Option(
                   metavar="ROLE", help="role of a new actor made for the key, e.g. service, warranty, manager")]
               = None,
               actor: Annotated[Optional[int], an_id("actor", "--actor",
                                                     help="act as this existing actor of the party")] = None,
               label: Annotated[Optional[str], typer.Option(
                   metavar="TEXT", help="what the key is for, e.g. 'DMS Hamburg'")] = None,
               ) -> None:
        """Make an API key; it is printed once and stored only as a hash."""
        if role is None and actor is None:
            fail("pass --role (a new actor is made for the key) or --actor (the key acts as that person)")
        crm = open_crm()
        issued = crm.api_keys.create(resolve_party(crm, party), role, actor_id=actor, label=label, by=crm.system)
        err.print(f"API key {issued.id} for party {issued.party_id}, role {issued.role!r}, acting as actor "
                  f"{issued.actor_id}. Store it now — it is not shown again:", highlight=False)
        typer.echo(issued.key)

    @keys.command("list", epilog=examples("dealercrm keys list", "dealercrm keys list --party 'Elektro Schmidt' "
                                                                  "--format json"))
    def list_(party: Annotated[Optional[str], typer.Option(metavar="PARTY", help="only this party's keys (id or "
                                                                                 "name)")] = None,
              fmt: FormatOption = Format.table) -> None:
        """Keys by prefix, with party, role, actor and last use (never the keys themselves)."""
        crm = open_crm()
        names = {p.id: p.name for p in crm.parties.list(by=crm.system)}
        found = crm.api_keys.list(resolve_party(crm, party) if party else None, by=crm.system)
        columns = ("id", "prefix", "party_id", "role", "actor_id", "label", "created_at", "last_used_at", "revoked_at")
        items = [{c: getattr(k, c) for c in columns} for k in found]

        def table() -> Table:
            t = Table("id", "prefix", "party", "role", "actor", "label", "created", "last used", "revoked")
            for k in items:
                t.add_row(str(k["id"]), k["prefix"], escape(names.get(k["party_id"], str(k["party_id"]))), k["role"],
                          str(k["actor_id"]), escape(k["label"] or "—"), fmt_time(k["created_at"]),
                          fmt_time(k["last_used_at"]), fmt_time(k["revoked_at"]))
            return t

        show_list(fmt, items, table, columns=columns)

    @keys.command("revoke", epilog=examples("dealercrm keys revoke 3", "dealercrm keys revoke dcrm_7Hq2"))
    def revoke(key: Annotated[str, typer.Argument(metavar="KEY", help="key id or prefix (dcrm_…)")]) -> None:
        """Revoke a key: the next request with it is refused (401)."""
        crm = open_crm()
        revoked = crm.api_keys.revoke(key, by=crm.system)
        say(f"API key {revoked.id} ({revoked.prefix}) revoked")
