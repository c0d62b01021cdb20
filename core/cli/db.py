"""Schema and installation commands: ``init`` and ``db upgrade``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from sqlalchemy import select

from ..db.migrate import current_revision, head_revision
from ..db.models import Party
from .common import console, open_crm, set_actor, set_database

DbOption = Annotated[Optional[str], typer.Option("--db", envvar="DEALERCRM_DATABASE_URL",
                                                  help="Database URL (default sqlite:///dealercrm.db).")]


def global_options(db: DbOption = None,
                   as_: Annotated[Optional[str], typer.Option(
                       "--as", help="act as this actor (id or exact name) under its party's rules; "
                       "default: dealercrm's system actor")] = None) -> None:
    """dealercrm: the customer file, rules and service cases for dealers."""
    set_database(db)
    set_actor(as_)


def register(cli: typer.Typer) -> None:
    db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
    cli.add_typer(db_cli, name="db")

    @db_cli.command("upgrade")
    def upgrade() -> None:
        """Apply the shipped migrations up to the newest schema."""
        crm = open_crm(migrate=True, tolerate_broken_plugins=True)
        console.print(f"schema at revision [bold]{current_revision(crm.engine)}[/] (head {head_revision()})")

    @db_cli.command("current")
    def current() -> None:
        """Show the schema revision of the database."""
        crm = open_crm(migrate=False, tolerate_broken_plugins=True)
        console.print(f"revision {current_revision(crm.engine) or 'none (empty database)'}; head {head_revision()}")

    @cli.command()
    def init(dealer: Annotated[Optional[str], typer.Option(help="Name of your dealership.")] = None) -> None:
        """Create or upgrade the database and the home dealer party."""
        crm = open_crm()
        name = dealer or crm.settings.home_dealer
        with crm.read(crm.system) as uow:
            exists = uow.session.scalar(select(Party.id).where(Party.name == name))
        if exists is None:
            crm.parties.add("dealer", name, by=crm.system)
        console.print(f"dealercrm ready at {crm.engine.url.render_as_string(hide_password=True)} "
                      f"(schema {current_revision(crm.engine)}, home dealer {name!r})")
