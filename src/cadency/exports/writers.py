"""The two file formats of an export, written one row at a time so a file of a million rows
never sits in memory: CSV (UTF-8 with a BOM, so Excel reads it as UTF-8) and XLSX (XlsxWriter
in constant-memory mode, which flushes each row to disk once the next one starts).

A row holds Python values: text, whole and decimal numbers, dates, `Money` and None. CSV
writes them as text (dates YYYY-MM-DD, money as a decimal string); XLSX keeps dates as dates
and money as numbers in the currency's own format."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Any, Protocol

import xlsxwriter

from cadency.kit import money

# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, made plain with a leading apostrophe."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


@dataclass(frozen=True)
class Money:
    """An amount in minor units of its currency (as every amount is stored)."""

    minor: int
    currency: str


Cell = str | int | Decimal | date | Money | None


class RowWriter(Protocol):
    def write_row(self, cells: Sequence[Cell]) -> None: ...

    def close(self) -> None: ...


def _text(cell: Cell) -> str:
    if type(cell) is str:  # most cells: checked first
        return neutralise(cell)
    if cell is None:
        return ""
    if isinstance(cell, str):
        return neutralise(cell)
    if isinstance(cell, Money):
        return money.format_amount(cell.minor, cell.currency)
    if isinstance(cell, date):
        return cell.isoformat()
    return str(cell)


class CsvWriter:
    def __init__(self, path: str) -> None:
        # "utf-8-sig" writes the BOM that tells Excel the file is UTF-8.
        self._file: IO[str] = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file)

    def write_row(self, cells: Sequence[Cell]) -> None:
        self._csv.writerow([_text(cell) for cell in cells])

    def close(self) -> None:
        self._file.close()


class XlsxWriter:
    def __init__(self, path: str) -> None:
        self._book = xlsxwriter.Workbook(path, {"constant_memory": True})
        self._sheet = self._book.add_worksheet()
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd"})
        self._money: dict[str, Any] = {}
        self._row = 0

    def _money_format(self, currency: str) -> Any:
        found = self._money.get(currency)
        if found is None:
            places = money.currency_exponent(currency)
            decimals = "." + "0" * places if places else ""
            found = self._book.add_format({"num_format": f'#,##0{decimals} "{currency}"'})
            self._money[currency] = found
        return found

    def write_row(self, cells: Sequence[Cell]) -> None:
        sheet, row = self._sheet, self._row
        for col, cell in enumerate(cells):
            if cell is None:
                continue
            if isinstance(cell, str):
                # write_string, never write(): text is never read as a formula or a number.
                sheet.write_string(row, col, neutralise(cell))
            elif isinstance(cell, Money):
                places = money.currency_exponent(cell.currency)
                amount = Decimal(cell.minor).scaleb(-places)
                sheet.write_number(row, col, float(amount), self._money_format(cell.currency))
            elif isinstance(cell, date):
                sheet.write_datetime(row, col, cell, self._date)
            else:
                sheet.write_number(row, col, float(cell) if isinstance(cell, Decimal) else cell)
        self._row += 1

    def close(self) -> None:
        self._book.close()


def open_writer(format: str, path: str) -> RowWriter:
    """A writer of the export's format at `path` (a file not yet there)."""
    if format == "xlsx":
        return XlsxWriter(path)
    return CsvWriter(path)
