"""``dealercrm products add | list``: the shared catalogue the imports name products from by SKU."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..http.schemas import ProductOut
from .common import a_count, acting, an_id, open_crm
from .output import Format, FormatOption, examples, paged, say, show_list


def register(cli: typer.Typer) -> None:
    products = typer.Typer(help="The product catalogue, shared by every party.", no_args_is_help=True)
    cli.add_typer(products, name="products")

    @products.command("add", epilog=examples(
        "dealercrm products add WM-BRI-8 'Brioche Lavande 8 kg' --category 'washing machine' --manufacturer 3",
        "dealercrm products add WHG-A 'Wohnung Typ A, 3 Zimmer' --warranty-months 60 --category flat"))
    def add(sku: Annotated[str, typer.Argument(metavar="SKU", help="the article number, unique in the catalogue")],
            name: Annotated[str, typer.Argument(metavar="NAME", help="what the product is called")],
            warranty_months: Annotated[int, typer.Option(min=0, max=1200, metavar="N", help=(
                "the warranty, counted from the handover (or the purchase)"))] = 24,
            category: Annotated[str, typer.Option(metavar="TEXT", help="e.g. car, washing machine, flat")] = "general",
            manufacturer: Annotated[Optional[int], an_id("party", "--manufacturer", help=(
                "the manufacturer's party id: a case about the product is forwarded to it"))] = None) -> None:
        """Add a product a dealer sells to the catalogue."""
        crm = open_crm()
        product = crm.products.add(sku, name, warranty_months=warranty_months, category=category,
                                   manufacturer_party_id=manufacturer, by=acting(crm))
        say(f"product {product.id} added: {escape(product.sku)} {escape(product.name)}")

    @products.command("list", epilog=examples("dealercrm products list --search brioche",
                                              "dealercrm products list --category flat --format json"))
    def list_(search: Annotated[Optional[str], typer.Option(metavar="TEXT", help="part of the SKU or name")] = None,
              category: Annotated[Optional[str], typer.Option(metavar="TEXT", help="only this category")] = None,
              limit: Annotated[int, a_count(help="at most this many")] = 50,
              offset: Annotated[int, a_count(help="skip this many")] = 0,
              fmt: FormatOption = Format.table) -> None:
        """The catalogue, by id; JSON as GET /products answers."""
        crm = open_crm()
        found = crm.products.list(search, category=category, limit=limit + 1, offset=offset, by=acting(crm))

        def table() -> Table:
            t = Table("id", "sku", "name", "category", "warranty", "manufacturer")
            for p in found[:limit]:
                t.add_row(str(p.id), escape(p.sku), escape(p.name), escape(p.category), f"{p.warranty_months} months",
                          str(p.manufacturer_party_id or "—"))
            return t

        show_list(fmt, [ProductOut.model_validate(p).model_dump() for p in found[:limit]], table,
                  page=paged(found, limit, offset), columns=ProductOut.model_fields)
