"""The two file formats of an export, written a batch at a time so a file of a million rows
never sits in memory: CSV (UTF-8 with a BOM, so Excel reads it as UTF-8) and XLSX (a zip
stream: the sheet's rows go straight into the compressed part, and nothing is kept per row).

A writer is opened with the type of each column, and is handed each batch column by column
(a list of values per column: the service reads and converts a column at once, and so does
the writer). Cells by column type:

- "text": str or None. A value a spreadsheet would run as a formula is written with a `'`.
- "number": int, Decimal, or a decimal string (exact, as stored) or None.
- "date": a `date` or its ISO text (YYYY-MM-DD) or None.
- "money": a `MoneyColumn` (the minor units, None where there is no amount, and each row's
  currency). CSV writes the decimal amount ("12.50"); XLSX a number in the currency's format.

Why not XlsxWriter: its per-cell work alone (measured: 110 s for a million rows of 29
columns on the 2-core benchmark machine) is more than the whole export may take. A sheet
is plain XML in a zip, and written column-wise it costs a fraction of that.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable, Sequence
from datetime import date
from typing import IO, Any, Literal, NamedTuple, Protocol
from xml.sax.saxutils import escape, quoteattr

from cadency.kit import money

CellType = Literal["text", "number", "date", "money"]
CELL_TYPES: tuple[CellType, ...] = ("text", "number", "date", "money")

# A spreadsheet runs a cell that begins with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, made plain with a leading apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _neutralised(column: Sequence[str | None]) -> list[str | None]:
    first = _FORMULA_FIRST
    return ["'" + v if v and v[0] in first else v for v in column]


class _Formatted(dict[Any, Any]):
    """Values formatted by `format`, each once: an export repeats a few prices and days.
    Bounded, so a file of all different values does not grow it without end."""

    def __init__(self, format: Callable[[Any], Any]) -> None:
        super().__init__()
        self._format = format

    def __missing__(self, key: Any) -> Any:
        if len(self) > _CACHE_LIMIT:
            self.clear()
        value = self[key] = self._format(key)
        return value


_CACHE_LIMIT = 100_000


class MoneyColumn(NamedTuple):
    """A column of amounts: minor units (None: no amount) and the currency of each."""

    minors: Sequence[int | None]
    currencies: Sequence[str]

    def __len__(self) -> int:  # rows, as for the other columns
        return len(self.minors)

    def rows(self, start: int, stop: int) -> MoneyColumn:
        return MoneyColumn(self.minors[start:stop], self.currencies[start:stop])


class _Amounts:
    """Amounts made into cells by `format(minor, currency)`, each once per currency. A batch
    in one currency (the usual case) is looked up without a tuple made per row."""

    def __init__(self, format: Callable[[int, str], str]) -> None:
        self._format = format
        self._by_currency: dict[str, _Formatted] = {}

    def _of(self, currency: str) -> _Formatted:
        found = self._by_currency.get(currency)
        if found is None:
            format = self._format
            found = self._by_currency[currency] = _Formatted(
                lambda minor: None if minor is None else format(minor, currency)
            )
        return found

    def cells(self, column: MoneyColumn) -> list[str | None]:
        minors, currencies = column.minors, column.currencies
        if not minors:
            return []
        first = currencies[0]
        if currencies.count(first) == len(currencies):
            return list(map(self._of(first).__getitem__, minors))
        return [self._of(c)[m] for m, c in zip(minors, currencies, strict=True)]


class RowWriter(Protocol):
    def write_header(self, headers: Sequence[str]) -> None: ...

    def write_batch(self, columns: Sequence[Sequence[Any]]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    def __init__(self, path: str, types: Sequence[CellType]) -> None:
        # "utf-8-sig" writes the BOM that tells Excel the file is UTF-8.
        self._file: IO[str] = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._types = list(types)
        self._amounts = _Amounts(money.format_amount)

    def write_header(self, headers: Sequence[str]) -> None:
        self._csv.writerow([neutralise(h) for h in headers])

    def _cells(self, cell_type: CellType, column: Any) -> Sequence[Any]:
        if cell_type == "text":
            return _neutralised(column)
        if cell_type == "money":
            return self._amounts.cells(column)
        # Numbers and dates as they are: csv writes str() of them (ISO for a date).
        as_is: Sequence[Any] = column
        return as_is

    def write_batch(self, columns: Sequence[Sequence[Any]]) -> None:
        cells = [self._cells(t, c) for t, c in zip(self._types, columns, strict=True)]
        self._csv.writerows(zip(*cells, strict=True))

    def close(self) -> None:
        self._file.close()


# --- XLSX ---------------------------------------------------------------------------------------

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# Excel's limits: rows per sheet (the rest go on the next sheet, under the header again) and
# characters per cell.
MAX_SHEET_ROWS = 1_048_576
MAX_CELL_TEXT = 32_767
_COLUMN_WIDTH = 20
# Styles (cellXfs): 0 plain, 1 the header, 2 a date; money formats follow, one per currency.
_HEADER_STYLE, _DATE_STYLE, _FIRST_MONEY_STYLE = 1, 2, 3
_DATE_FORMAT_ID = 164  # custom number formats are numbered from 164
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_FIRST_SERIAL_DATE = date(1900, 3, 1)  # before it Excel's 1900 leap-year bug shifts days

# Text that cannot go into the XML as it is: markup characters, control characters XML
# forbids (written as Excel's _xHHHH_ escapes), spaces at either end (to be kept), overlong.
_NEEDS_CARE = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f]|^\s|\s$").search
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _control_escape(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def _text_cell(ref: str, text: str, style: str = "") -> str:
    attributes = ""
    if _NEEDS_CARE(text) or len(text) > MAX_CELL_TEXT:
        text = text[:MAX_CELL_TEXT]
        if text != text.strip():
            attributes = ' xml:space="preserve"'
        # A carriage return as a character reference: XML readers turn a literal one into a
        # line feed.
        text = _CONTROL.sub(_control_escape, escape(text, {"\r": "&#13;"}))
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{attributes}>{text}</t></is></c>'


def column_letters(index: int) -> str:
    """A spreadsheet column's letters from its 0-based index: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _serial(value: date | str) -> int | None:
    """A date (or its ISO text) as Excel's serial day number; None for a date Excel cannot
    show as one (it is written as text)."""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return None if day < _FIRST_SERIAL_DATE else day.toordinal() - _EXCEL_EPOCH


class XlsxWriter:
    def __init__(self, path: str, types: Sequence[CellType]) -> None:
        self._zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self._types = list(types)
        self._letters = [column_letters(i) for i in range(len(types))]
        self._amounts = _Amounts(self._money_cell)
        self._money_styles: dict[str, int] = {}  # currency → its style's index
        self._serials = _Formatted(_serial)
        self._headers: list[str] = []
        self._sheets = 0
        self._sheet: IO[bytes] | None = None
        self._row = 0  # rows written on the current sheet

    # -- sheets --

    def _open_sheet(self) -> None:
        self._sheets += 1
        self._sheet = self._zip.open(
            f"xl/worksheets/sheet{self._sheets}.xml", "w", force_zip64=True
        )
        self._sheet.write(
            (
                f'{_XML_DECLARATION}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                # The header row stays in view while scrolling.
                '<sheetViews><sheetView workbookViewId="0"'
                f"{' tabSelected=' + chr(34) + '1' + chr(34) if self._sheets == 1 else ''}>"
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                "</sheetView></sheetViews>"
                f'<cols><col min="1" max="{max(len(self._types), 1)}" width="{_COLUMN_WIDTH}"'
                ' customWidth="1"/></cols><sheetData>'
            ).encode()
        )
        self._row = 0
        style = f' s="{_HEADER_STYLE}"'
        self._write_rows(
            [
                [
                    _text_cell(f"{letter}1", header, style)
                    for letter, header in zip(self._letters, self._headers, strict=True)
                ]
            ]
        )

    def _close_sheet(self) -> None:
        assert self._sheet is not None
        self._sheet.write(b"</sheetData></worksheet>")
        self._sheet.close()
        self._sheet = None

    def _write_rows(self, rows: Sequence[Sequence[str]]) -> None:
        assert self._sheet is not None
        first = self._row + 1
        parts = [
            f'<row r="{number}">{"".join(cells)}</row>'
            for number, cells in enumerate(rows, start=first)
        ]
        self._sheet.write("".join(parts).encode())
        self._row += len(rows)

    # -- cells, a column at a time --

    def _cells(self, cell_type: CellType, letter: str, column: Any, first: int) -> list[str]:
        numbers = range(first, first + len(column))
        if cell_type == "text":
            first_chars = _FORMULA_FIRST
            return [
                ""
                if v is None
                else _text_cell(f"{letter}{n}", "'" + v if v and v[0] in first_chars else v)
                for n, v in zip(numbers, column, strict=True)
            ]
        if cell_type == "number":
            return [
                "" if v is None else f'<c r="{letter}{n}"><v>{v}</v></c>'
                for n, v in zip(numbers, column, strict=True)
            ]
        if cell_type == "date":
            serials = self._serials
            cells = []
            for n, v in zip(numbers, column, strict=True):
                if v is None:
                    cells.append("")
                    continue
                serial = serials[v]
                cells.append(
                    _text_cell(f"{letter}{n}", str(v))
                    if serial is None
                    else f'<c r="{letter}{n}" s="{_DATE_STYLE}"><v>{serial}</v></c>'
                )
            return cells
        bodies = self._amounts.cells(column)
        return [
            "" if body is None else f'<c r="{letter}{n}"{body}'
            for n, body in zip(numbers, bodies, strict=True)
        ]

    def _money_cell(self, minor: int, currency: str) -> str:
        """A money cell after its reference: the currency's style and the amount."""
        style = self._money_styles.get(currency)
        if style is None:
            style = self._money_styles[currency] = _FIRST_MONEY_STYLE + len(self._money_styles)
        return f' s="{style}"><v>{money.format_amount(minor, currency)}</v></c>'

    # -- the writer --

    def write_header(self, headers: Sequence[str]) -> None:
        self._headers = list(headers)
        self._open_sheet()

    def write_batch(self, columns: Sequence[Sequence[Any]]) -> None:
        count = len(columns[0]) if columns else 0
        start = 0
        while start < count:
            if self._row >= MAX_SHEET_ROWS:
                self._close_sheet()
                self._open_sheet()
            take = min(count - start, MAX_SHEET_ROWS - self._row)
            first = self._row + 1
            cells = [
                self._cells(t, letter, _rows(column, start, start + take), first)
                for t, letter, column in zip(self._types, self._letters, columns, strict=True)
            ]
            self._write_rows(list(zip(*cells, strict=True)))
            start += take

    def close(self) -> None:
        if self._sheet is None and not self._sheets:
            self._open_sheet()
        if self._sheet is not None:
            self._close_sheet()
        parts = {
            "[Content_Types].xml": self._content_types(),
            "_rels/.rels": _relationships([("rId1", "officeDocument", "xl/workbook.xml")]),
            "xl/workbook.xml": self._workbook(),
            "xl/_rels/workbook.xml.rels": _relationships(
                [
                    *(
                        (f"rId{i}", "worksheet", f"worksheets/sheet{i}.xml")
                        for i in range(1, self._sheets + 1)
                    ),
                    (f"rId{self._sheets + 1}", "styles", "styles.xml"),
                ]
            ),
            "xl/styles.xml": self._styles(),
        }
        for name, text in parts.items():
            self._zip.writestr(name, text)
        self._zip.close()

    def _content_types(self) -> str:
        sheets = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, self._sheets + 1)
        )
        return (
            f"{_XML_DECLARATION}<Types "
            'xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            f"{sheets}</Types>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name="Sheet{i}" sheetId="{i}" r:id="rId{i}"/>'
            for i in range(1, self._sheets + 1)
        )
        return (
            f'{_XML_DECLARATION}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f"<sheets>{sheets}</sheets></workbook>"
        )

    def _styles(self) -> str:
        formats = [(_DATE_FORMAT_ID, "yyyy-mm-dd")]
        for number, currency in enumerate(self._money_styles, start=_DATE_FORMAT_ID + 1):
            places = money.currency_exponent(currency)
            decimals = "." + "0" * places if places else ""
            formats.append((number, f'#,##0{decimals} "{currency}"'))
        num_fmts = "".join(
            f"<numFmt numFmtId={quoteattr(str(i))} formatCode={quoteattr(code)}/>"
            for i, code in formats
        )
        money_xfs = "".join(
            f'<xf numFmtId="{number}" fontId="0" fillId="0" borderId="0" xfId="0"'
            ' applyNumberFormat="1"/>'
            for number in range(_DATE_FORMAT_ID + 1, _DATE_FORMAT_ID + 1 + len(self._money_styles))
        )
        return (
            f'{_XML_DECLARATION}<styleSheet xmlns="{_MAIN_NS}">'
            f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{_FIRST_MONEY_STYLE + len(self._money_styles)}">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
            f'<xf numFmtId="{_DATE_FORMAT_ID}" fontId="0" fillId="0" borderId="0" xfId="0"'
            ' applyNumberFormat="1"/>'
            f"{money_xfs}</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        )


def _rows(column: Sequence[Any], start: int, stop: int) -> Sequence[Any]:
    if isinstance(column, MoneyColumn):
        return column.rows(start, stop)
    return column[start:stop]


def _relationships(items: Sequence[tuple[str, str, str]]) -> str:
    kinds = {
        "officeDocument": f"{_REL_NS}/officeDocument",
        "worksheet": f"{_REL_NS}/worksheet",
        "styles": f"{_REL_NS}/styles",
    }
    body = "".join(
        f'<Relationship Id="{rid}" Type="{kinds[kind]}" Target="{target}"/>'
        for rid, kind, target in items
    )
    return f'{_XML_DECLARATION}<Relationships xmlns="{_PKG_REL_NS}">{body}</Relationships>'


_WRITERS: dict[str, Callable[[str, Sequence[CellType]], RowWriter]] = {
    "csv": CsvWriter,
    "xlsx": XlsxWriter,
}


def open_writer(format: str, path: str, types: Sequence[CellType]) -> RowWriter:
    """A writer of the export's format at `path` (a file not yet there), for columns of
    `types`."""
    return _WRITERS[format](path, types)
