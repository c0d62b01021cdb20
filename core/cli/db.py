"""Schema and installation commands: ``init`` and ``db upgrade``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from sqlalchemy import select

from ..db.migrate import current_revision, head_revision
from ..db.models import Party
from . import db_safety
from .common import console, open_crm, set_actor, set_database, set_quiet
from .output import examples, say

DbOption = Annotated[Optional[str], typer.Option("--db", envvar="DEALERCRM_DATABASE_URL", metavar="URL",
                                                  help="Database URL (default sqlite:///dealercrm.db).")]


def global_options(db: DbOption = None,
                   as_: Annotated[Optional[str], typer.Option(
                       "--as", metavar="ACTOR", help="act as this actor (id or exact name) under its party's rules; "
                       "default: dealercrm's system actor")] = None,
                   quiet: Annotated[bool, typer.Option(
                       "--quiet", "-q", help="no progress bars and no confirmations; what was asked for, warnings "
                       "and errors are still printed")] = False) -> None:
    """dealercrm: the customer file, rules and service cases for dealers."""
    set_database(db)
    set_actor(as_)
    set_quiet(quiet)


def register(cli: typer.Typer) -> None:
    db_cli = typer.Typer(help="Database schema, backups and copies.", no_args_is_help=True)
    cli.add_typer(db_cli, name="db")
    db_safety.register(db_cli)

    @db_cli.command("upgrade", epilog=examples(
        "dealercrm db upgrade",
        "dealercrm --db postgresql+psycopg://crm:secret@db.internal/crm db upgrade"))
    def upgrade() -> None:
        """Apply the shipped migrations up to the newest schema."""
        crm = open_crm(migrate=True, tolerate_broken_plugins=True)
        say(f"schema at revision [bold]{current_revision(crm.engine)}[/] (head {head_revision()})")

    @db_cli.command("current", epilog=examples("dealercrm db current"))
    def current() -> None:
        """Show the schema revision of the database."""
        crm = open_crm(migrate=False, tolerate_broken_plugins=True)
        console.print(f"revision {current_revision(crm.engine) or 'none (empty database)'}; head {head_revision()}")

    @cli.command(epilog=examples("dealercrm init --dealer 'Autohaus Berg'",
                                 "dealercrm --db sqlite:///shop.db init"))
    def init(dealer: Annotated[Optional[str], typer.Option(
            metavar="NAME", help="Name of your dealership (default: home_dealer in the settings).")] = None) -> None:
        """Create or upgrade the database and the home dealer party."""
        crm = open_crm()
        name = dealer or crm.settings.home_dealer
        with crm.read(crm.system) as uow:
            exists = uow.session.scalar(select(Party.id).where(Party.name == name))
        if exists is None:
            crm.parties.add("dealer", name, by=crm.system)
        say(f"dealercrm ready at {crm.engine.url.render_as_string(hide_password=True)} "
            f"(schema {current_revision(crm.engine)}, home dealer {name!r})")
