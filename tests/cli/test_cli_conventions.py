"""Issue #16, item 3: one command line, one set of conventions, checked over the whole app.

``dealercrm.cli.conventions.problems`` walks every command the application has — the
core's, the built-in plugins' (the portal's), hidden aliases — and names each one without
examples (or whose examples do not parse or call another command), each option or argument
without help, each value without a readable placeholder, each list without
``--format table|json|csv``. The first test holds the app to it; the second shows it
catching each kind of slip in a plugin's command.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dealercrm import hookimpl
from dealercrm.cli import build_cli
from dealercrm.cli.conventions import problems, walk
from dealercrm.cli.output import Format, FormatOption, examples


def test_every_command_has_examples_helped_options_readable_placeholders_and_lists_take_format():
    assert problems(build_cli()) == []


def test_the_walk_reaches_every_command_the_hidden_aliases_and_the_plugins_ones():
    root = typer.main.get_command(build_cli())
    paths = {" ".join(path) for path, command, _ in walk(root, root.make_context("dealercrm", [], resilient_parsing=True),
                                                          ("dealercrm",))}
    assert {"dealercrm customers import", "dealercrm assets import", "dealercrm import customers",
            "dealercrm export customer", "dealercrm erase customer", "dealercrm portal links",
            "dealercrm plugins list", "dealercrm channels list"} <= paths


class Sloppy:
    """A plugin whose commands break each convention once."""

    @hookimpl
    def dealercrm_register_commands(self, cli):
        sloppy = typer.Typer()
        cli.add_typer(sloppy, name="sloppy")

        @sloppy.command("quiet")
        def no_example(name: Annotated[str, typer.Argument(metavar="NAME", help="who")]) -> None:
            """A command without examples."""

        @sloppy.command("terse", epilog=examples("dealercrm sloppy terse --count 3"))
        def no_help(count: Annotated[int, typer.Option(metavar="N")] = 1) -> None:
            """An option without help."""

        @sloppy.command("typed", epilog=examples("dealercrm sloppy typed 4 --tag x"))
        def unreadable(customer_id: Annotated[int, typer.Argument(help="the customer")],
                       tag: Annotated[Optional[list[str]], typer.Option(metavar="<list[str]>", help="tags")] = None,
                       ) -> None:
            """Placeholders as the type's name."""

        @sloppy.command("list", epilog=examples("dealercrm sloppy list"))
        def unformatted() -> None:
            """A list only as a table."""

        @sloppy.command("pages", epilog=examples("dealercrm sloppy pages --limit 5 --format json"))
        def paged(limit: Annotated[int, typer.Option(metavar="N", help="at most")] = 50,
                  fmt: FormatOption = Format.table) -> None:
            """A list done right."""

        @sloppy.command("stale", epilog=examples("dealercrm sloppy stale --verbose", "dealercrm sloppy pages"))
        def stale_example(quietly: Annotated[bool, typer.Option("--quietly", help="less")] = False) -> None:
            """Its examples use an option it no longer has, and call another command."""


def test_the_check_names_each_slip_of_a_plugins_command():
    found = [p for p in problems(build_cli(plugins=(Sloppy(),))) if p.startswith("dealercrm sloppy")]
    assert "dealercrm sloppy quiet: has no examples (epilog=examples(...))" in found
    assert "dealercrm sloppy terse: --count has no help" in found
    assert any(p.startswith("dealercrm sloppy typed: CUSTOMER_ID has no readable placeholder") for p in found)
    assert any(p.startswith("dealercrm sloppy typed: --tag has no readable placeholder (<list[str]>)") for p in found)
    assert "dealercrm sloppy typed: its help shows <list[str]>" in found
    assert "dealercrm sloppy list: a list command without --format table|json|csv" in found
    assert "dealercrm sloppy stale: the example 'dealercrm sloppy stale --verbose' does not parse: No such option: " \
           "--verbose" in found
    assert "dealercrm sloppy stale: the example 'dealercrm sloppy pages' calls dealercrm sloppy pages, not this " \
           "command" in found
    assert not [p for p in found if p.startswith("dealercrm sloppy pages")]
    assert len(found) == 8, found
