"""A SOQL subset: a tokenizer, a recursive-descent parser, and compiled predicates, sort keys and projections.

Supported: `SELECT` fields (with parent relationship paths such as `Account.Name`, `Owner.Email`,
`Contact__r.Email`) or `COUNT()`; `FROM` one object; `WHERE` with AND, OR, NOT and parentheses (AND and OR
cannot be mixed without parentheses, as in Salesforce), =, !=, <>, <, >, <=, >=, IN, NOT IN, LIKE (% and _,
case-insensitive), null, string, number, boolean, date (2024-01-01) and datetime (2024-01-01T00:00:00Z,
+00:00 or +0000) literals, and the date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n,
N_DAYS_AGO:n; `ORDER BY` several keys with ASC/DESC and NULLS FIRST/LAST; `LIMIT`; `OFFSET` (at most 2,000).
Text comparisons are case-insensitive, as in Salesforce. Not supported (MALFORMED_QUERY): aggregate
functions other than COUNT(), GROUP BY, subqueries, TYPEOF, FIELDS(), aliases, FOR/WITH clauses.

Errors carry Salesforce's message shape: the query line, a caret, "ERROR at Row:r:Column:c" and the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cmsf_sandbox.salesforce.errors import SoqlError
from cmsf_sandbox.salesforce.ids import to_18
from cmsf_sandbox.salesforce.schema import ID_TYPES, NUMBER_TYPES, Field, Lookup, Schema, SObject
from cmsf_sandbox.salesforce.values import parse_datetime

Record = dict[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

MAX_OFFSET = 2000
_KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "USING",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    }
)
_DATE_KEYWORDS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_DATE_N_KEYWORDS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+))
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_TEXT_TYPE_NAMES = {"int": "integer", "double": "double", "currency": "currency", "percent": "percent"}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        found = _TOKEN.match(query, pos)
        if found is None:
            raise _error_at(query, pos, "MALFORMED_QUERY", f"unexpected token: '{query[pos]}'")
        kind = found.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, found.group(), pos))
        pos = found.end()
    tokens.append(Token("eof", "<EOF>", len(query)))
    return tokens


def _error_at(query: str, pos: int, code: str, text: str) -> SoqlError:
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end >= 0 else len(query)]
    row = query.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    return SoqlError(code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{text}")


def _unquote(text: str, keep_like_escapes: bool) -> str:
    body = text[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            following = body[index + 1]
            if following in "_%":
                out.append("\\" + following if keep_like_escapes else following)
            else:
                out.append(_ESCAPES.get(following, following))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


# ------------------------------------------------------------------------------------------- the AST


@dataclass
class Path:
    parts: list[str]
    pos: int


@dataclass
class Literal:
    kind: str  # string, number, date, datetime, boolean, null, date_keyword
    value: Any
    pos: int
    raw: str = ""


@dataclass
class Comparison:
    path: Path
    op: str  # = != < > <= >= in not_in like
    values: list[Literal]
    pos: int


@dataclass
class BoolOp:
    op: str  # and, or
    items: list[Any]


@dataclass
class Not:
    item: Any


@dataclass
class OrderItem:
    path: Path
    descending: bool
    nulls_first: bool


@dataclass
class Parsed:
    count_only: bool
    paths: list[Path]
    object_name: str
    object_pos: int
    where: Any | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    offset_pos: int = 0


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def fail(self, token: Token | None = None, text: str | None = None) -> SoqlError:
        token = token or self.token
        return _error_at(self.query, token.pos, "MALFORMED_QUERY", text or f"unexpected token: {token.text}")

    def keyword(self, *words: str) -> bool:
        return self.token.kind == "ident" and self.token.upper in words

    def expect_keyword(self, word: str) -> Token:
        if not self.keyword(word):
            raise self.fail()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.token.kind != "punct" or self.token.text != char:
            raise self.fail()
        return self.advance()

    def unsupported(self, what: str) -> SoqlError:
        return self.fail(text=f"unexpected token: {self.token.text} ({what} is not supported by the emulator)")

    # ------------------------------------------------------------------------------------------ rules

    def parse(self) -> Parsed:
        self.expect_keyword("SELECT")
        count_only = False
        paths: list[Path] = []
        if self.keyword("COUNT") and self.tokens[self.index + 1].text == "(":
            self.advance()
            self.expect_punct("(")
            if self.token.text != ")":
                raise self.unsupported("COUNT(field)")
            self.expect_punct(")")
            count_only = True
        else:
            paths.append(self.path(select=True))
            while self.token.text == ",":
                self.advance()
                paths.append(self.path(select=True))
        self.expect_keyword("FROM")
        if self.token.kind != "ident" or self.token.upper in _KEYWORDS:
            raise self.fail()
        name_token = self.advance()
        parsed = Parsed(count_only, paths, name_token.text, name_token.pos)
        if self.token.kind == "ident" and self.token.upper not in _KEYWORDS:
            raise self.unsupported("an object alias")
        if self.keyword("USING", "WITH"):
            raise self.unsupported(self.token.upper)
        if self.keyword("WHERE"):
            self.advance()
            parsed.where = self.condition()
        if self.keyword("GROUP", "HAVING"):
            raise self.unsupported(self.token.upper)
        if self.keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            parsed.order.append(self.order_item())
            while self.token.text == ",":
                self.advance()
                parsed.order.append(self.order_item())
        if self.keyword("LIMIT"):
            self.advance()
            parsed.limit = self.integer()
        if self.keyword("OFFSET"):
            parsed.offset_pos = self.advance().pos
            parsed.offset = self.integer()
        if self.keyword("FOR"):
            raise self.unsupported("FOR")
        if self.token.kind != "eof":
            raise self.fail()
        return parsed

    def integer(self) -> int:
        token = self.token
        if token.kind != "number" or not token.text.isdigit():
            raise self.fail()
        self.advance()
        return int(token.text)

    def path(self, select: bool = False) -> Path:
        token = self.token
        if token.kind == "punct" and token.text == "(":
            raise self.unsupported("a subquery")
        if token.kind != "ident" or token.upper in _KEYWORDS:
            raise self.fail()
        if self.tokens[self.index + 1].text == "(":
            raise self.unsupported(f"the function {token.text}()")
        parts = [self.advance().text]
        while self.token.text == ".":
            self.advance()
            if self.token.kind != "ident":
                raise self.fail()
            parts.append(self.advance().text)
        return Path(parts, token.pos)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.keyword("ASC", "DESC"):
            descending = self.advance().upper == "DESC"
        nulls_first = not descending
        if self.keyword("NULLS"):
            self.advance()
            if not self.keyword("FIRST", "LAST"):
                raise self.fail()
            nulls_first = self.advance().upper == "FIRST"
        return OrderItem(path, descending, nulls_first)

    def condition(self) -> Any:
        first = self.unary()
        items = [first]
        op: str | None = None
        while self.keyword("AND", "OR"):
            word = self.token.upper.lower()
            if op is not None and word != op:
                raise self.fail()  # Salesforce wants parentheses between AND and OR
            op = word
            self.advance()
            items.append(self.unary())
        return first if op is None else BoolOp(op, items)

    def unary(self) -> Any:
        if self.keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.token.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.path()
        token = self.token
        if token.kind == "op":
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(path, op, [self.literal()], token.pos)
        if self.keyword("LIKE"):
            self.advance()
            value = self.token
            if value.kind != "string":
                raise self.fail()
            self.advance()
            return Comparison(path, "like", [Literal("string", _unquote(value.text, True), value.pos)], token.pos)
        negate = False
        if self.keyword("NOT"):
            self.advance()
            negate = True
            if not self.keyword("IN"):
                raise self.fail()
        if self.keyword("IN"):
            self.advance()
            self.expect_punct("(")
            if self.keyword("SELECT"):
                raise self.unsupported("a semi-join subquery")
            values = [self.literal()]
            while self.token.text == ",":
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(path, "not_in" if negate else "in", values, token.pos)
        if self.keyword("INCLUDES", "EXCLUDES"):
            raise self.unsupported(self.token.upper)
        raise self.fail()

    def literal(self) -> Literal:
        token = self.token
        kind = token.kind
        if kind == "string":
            self.advance()
            return Literal("string", _unquote(token.text, False), token.pos, token.text)
        if kind == "number":
            self.advance()
            number = float(token.text)
            return Literal(
                "number",
                int(number) if number.is_integer() and "." not in token.text else number,
                token.pos,
                token.text,
            )
        if kind == "date":
            self.advance()
            try:
                date.fromisoformat(token.text)
            except ValueError:
                raise self.fail(
                    token, f"line 1:{token.pos} no viable alternative at character '{token.text}'"
                ) from None
            return Literal("date", token.text, token.pos, token.text)
        if kind == "datetime":
            self.advance()
            parsed = parse_datetime(token.text)
            if parsed is None:
                raise self.fail(token)
            return Literal("datetime", parsed, token.pos, token.text)
        if kind == "ident":
            word = token.upper
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", token.pos, token.text)
            if word == "NULL":
                self.advance()
                return Literal("null", None, token.pos, token.text)
            if word in _DATE_KEYWORDS:
                self.advance()
                return Literal("date_keyword", (word, 0), token.pos, token.text)
            if word in _DATE_N_KEYWORDS:
                self.advance()
                self.expect_punct(":")
                count = self.integer()
                return Literal("date_keyword", (word, count), token.pos, f"{token.text}:{count}")
        raise self.fail()


def parse(query: str) -> Parsed:
    return _Parser(query).parse()


# ---------------------------------------------------------------------------------------- compilation


@dataclass
class Entry:
    name: str  # the output key: a field name or a relationship name
    getter: Getter | None = None  # for a field
    reference: Field | None = None  # for a relationship
    projection: Projection | None = None


@dataclass
class Projection:
    entries: list[Entry] = field(default_factory=list)

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name and e.reference is not None), None)


@dataclass
class Column:
    header: str  # "Account.Name"
    getter: Getter
    field: Field


@dataclass
class Query:
    text: str
    obj: SObject
    count_only: bool
    projection: Projection
    columns: list[Column]
    where: Predicate | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int | None
    has_offset: bool
    lookup: Lookup
    schema: Schema

    def select(self, rows: Any) -> list[Record]:
        """The rows (stored records of `obj`) this query returns, in order, LIMIT and OFFSET applied."""
        where = self.where
        selected = [r for r in rows if where(r)] if where is not None else list(rows)
        for getter, descending, nulls_first in reversed(self.order):
            keyed = [(getter(r), r) for r in selected]
            present = [pair for pair in keyed if pair[0] is not None]
            missing = [pair[1] for pair in keyed if pair[0] is None]
            present.sort(key=_first, reverse=descending)
            ordered = [pair[1] for pair in present]
            selected = missing + ordered if nulls_first else ordered + missing
        start = self.offset or 0
        end = start + self.limit if self.limit is not None else None
        if start or end is not None:
            selected = selected[start:end]
        return selected

    def record(self, row: Record, version: str) -> Record:
        return _materialize(self.obj.name, self.projection, row, version, self.lookup, self.schema)


def _first(pair: tuple[Any, Record]) -> Any:
    return pair[0]


def _materialize(
    object_name: str, projection: Projection, row: Record, version: str, lookup: Lookup, schema: Schema
) -> Record:
    out: Record = {
        "attributes": {"type": object_name, "url": f"/services/data/v{version}/sobjects/{object_name}/{row['Id']}"}
    }
    for entry in projection.entries:
        if entry.getter is not None:
            out[entry.name] = entry.getter(row)
            continue
        assert entry.reference is not None and entry.projection is not None
        parent_id = row.get(entry.reference.name)
        target = schema.by_prefix(parent_id[:3]) if parent_id else None
        parent = lookup(target.name, parent_id) if target is not None else None
        if parent is None or target is None:
            out[entry.name] = None
        else:
            out[entry.name] = _materialize(target.name, entry.projection, parent, version, lookup, schema)
    return out


class _Compiler:
    def __init__(self, text: str, schema: Schema, lookup: Lookup, now: datetime) -> None:
        self.text = text
        self.schema = schema
        self.lookup = lookup
        self.now = now

    def error(self, pos: int, code: str, message: str) -> SoqlError:
        return _error_at(self.text, pos, code, message)

    def resolve(self, obj: SObject, path: Path, purpose: str = "select") -> tuple[Getter, Field, list[Field]]:
        """(getter of the leaf value, leaf field, the reference fields walked through)."""
        current = obj
        walked: list[Field] = []
        for part in path.parts[:-1]:
            reference = current.relationship(part)
            target = None
            if reference is not None:
                target = next((self.schema.get(t) for t in reference.reference_to if self.schema.get(t)), None)
            if reference is None or target is None:
                raise self.error(
                    path.pos,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are attempting to use a custom "
                    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
                    "your WSDL or the describe call for the appropriate names.",
                )
            walked.append(reference)
            current = target
        leaf = current.field(path.parts[-1])
        if leaf is None:
            shown = ".".join(path.parts)
            raise self.error(
                path.pos,
                "INVALID_FIELD",
                f"No such column '{path.parts[-1]}' on entity '{current.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names."
                if len(path.parts) == 1
                else f"No such column '{path.parts[-1]}' on entity '{current.name}' (in '{shown}'). If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        if purpose == "filter" and not leaf.filterable:
            raise self.error(path.pos, "INVALID_FIELD", f"field '{leaf.name}' can not be filtered in a query call")
        if purpose == "order" and not leaf.sortable:
            raise self.error(path.pos, "INVALID_FIELD", f"field '{leaf.name}' can not be sorted in a query call")
        return self._getter(leaf, walked), leaf, walked

    def _getter(self, leaf: Field, walked: list[Field]) -> Getter:
        lookup, schema = self.lookup, self.schema
        name = leaf.name
        derive = leaf.derive
        if derive is not None:

            def own(row: Record) -> Any:
                return derive(row, lookup)

        else:

            def own(row: Record) -> Any:
                return row.get(name)

        if not walked:
            return own
        references = [r.name for r in walked]

        def through(row: Record) -> Any:
            current: Record | None = row
            for reference in references:
                parent_id = current.get(reference) if current is not None else None
                target = schema.by_prefix(parent_id[:3]) if parent_id else None
                current = lookup(target.name, parent_id) if target is not None else None
                if current is None:
                    return None
            return own(current) if current is not None else None

        return through

    # ---------------------------------------------------------------------------------------- WHERE

    def condition(self, obj: SObject, node: Any) -> Predicate:
        if isinstance(node, BoolOp):
            parts = [self.condition(obj, item) for item in node.items]
            if node.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, Not):
            inner = self.condition(obj, node.item)
            return lambda row: not inner(row)
        assert isinstance(node, Comparison)
        return self.comparison(obj, node)

    def _filter_type_error(self, f: Field, literal: Literal) -> SoqlError:
        if f.type in ID_TYPES:
            return self.error(literal.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {literal.value}")
        if f.is_text:
            return self.error(
                literal.pos,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{f.name}' must be of type string and should be enclosed in quotes",
            )
        type_name = {"datetime": "dateTime"}.get(f.type, _TEXT_TYPE_NAMES.get(f.type, f.type))
        return self.error(
            literal.pos,
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{f.name}' must be of type {type_name} and should not be enclosed "
            "in quotes",
        )

    def _date_range(self, f: Field, literal: Literal) -> tuple[str, str]:
        word, count = literal.value
        today = self.now.astimezone(UTC).date()
        if word == "TODAY":
            start, end = today, today + timedelta(days=1)
        elif word == "YESTERDAY":
            start, end = today - timedelta(days=1), today
        elif word == "TOMORROW":
            start, end = today + timedelta(days=1), today + timedelta(days=2)
        elif word == "LAST_N_DAYS":
            start, end = today - timedelta(days=count), today + timedelta(days=1)
        elif word == "NEXT_N_DAYS":
            start, end = today + timedelta(days=1), today + timedelta(days=count + 1)
        else:  # N_DAYS_AGO
            start, end = today - timedelta(days=count), today - timedelta(days=count - 1)
        if f.type == "date":
            return start.isoformat(), end.isoformat()
        return f"{start.isoformat()}T00:00:00.000+0000", f"{end.isoformat()}T00:00:00.000+0000"

    def _value(self, f: Field, literal: Literal) -> Any:
        """The literal as a stored value of field `f` (lower-cased for text), or a type error."""
        kind = literal.kind
        if kind == "null":
            return None
        if f.type in ID_TYPES:
            if kind != "string":
                raise self._filter_type_error(f, literal)
            try:
                return to_18(literal.value)
            except ValueError:
                raise self._filter_type_error(f, literal) from None
        if f.is_text:
            if kind != "string":
                raise self._filter_type_error(f, literal)
            return literal.value.lower()
        if f.type == "boolean":
            if kind != "boolean":
                raise self._filter_type_error(f, literal)
            return literal.value
        if f.type in NUMBER_TYPES:
            if kind != "number":
                raise self._filter_type_error(f, literal)
            return literal.value
        if f.type == "date":
            if kind != "date":
                raise self._filter_type_error(f, literal)
            return literal.value
        if f.type == "datetime":
            if kind != "datetime":
                raise self._filter_type_error(f, literal)
            return literal.value
        if kind != "string":
            raise self._filter_type_error(f, literal)
        return literal.value

    def comparison(self, obj: SObject, node: Comparison) -> Predicate:
        getter, f, walked = self.resolve(obj, node.path, "filter")
        op = node.op
        text = f.is_text
        name = f.name
        get: Getter
        if text and not walked and f.derive is None:

            def get(row: Record) -> Any:  # the common case, one call per row
                value = row.get(name)
                return value.lower() if value is not None else None

        else:

            def get(row: Record) -> Any:
                value = getter(row)
                if text and value is not None:
                    return value.lower()
                if f.type == "boolean" and value is None:
                    return False
                return value

        if op == "like":
            if not text:
                raise self.error(node.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {f.type} field: LIKE")
            pattern = _like_regex(node.values[0].value)

            def like(row: Record) -> bool:
                value = getter(row)
                return value is not None and pattern.fullmatch(value) is not None

            return like
        if op in ("in", "not_in"):
            members = {self._value(f, literal) for literal in node.values if literal.kind != "date_keyword"}
            if any(literal.kind == "date_keyword" for literal in node.values):
                raise self.error(
                    node.pos, "MALFORMED_QUERY", "date literals are not supported in IN lists by the emulator"
                )
            if op == "in":
                return lambda row: get(row) in members
            return lambda row: get(row) not in members
        literal = node.values[0]
        if f.type == "boolean" and op not in ("=", "!="):
            raise self.error(node.pos, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on boolean field: {op}")
        if literal.kind == "date_keyword":
            if f.type not in ("date", "datetime"):
                raise self._filter_type_error(f, literal)
            start, end = self._date_range(f, literal)
            tests: dict[str, Predicate] = {
                "=": lambda row: (v := getter(row)) is not None and start <= v < end,
                "!=": lambda row: (v := getter(row)) is None or not start <= v < end,
                "<": lambda row: (v := getter(row)) is not None and v < start,
                "<=": lambda row: (v := getter(row)) is not None and v < end,
                ">": lambda row: (v := getter(row)) is not None and v >= end,
                ">=": lambda row: (v := getter(row)) is not None and v >= start,
            }
            return tests[op]
        value = self._value(f, literal)
        if value is None:
            if op == "=":
                return lambda row: getter(row) is None
            if op == "!=":
                return lambda row: getter(row) is not None
            return lambda row: False
        if op == "=":
            return lambda row: get(row) == value
        if op == "!=":
            return lambda row: get(row) != value
        compare: dict[str, Callable[[Any], bool]] = {
            "<": lambda v: v < value,
            ">": lambda v: v > value,
            "<=": lambda v: v <= value,
            ">=": lambda v: v >= value,
        }
        test = compare[op]
        return lambda row: (v := get(row)) is not None and test(v)

    # ------------------------------------------------------------------------------------------ SELECT

    def projection(self, obj: SObject, paths: list[Path]) -> tuple[Projection, list[Column]]:
        root = Projection()
        columns: list[Column] = []
        seen: set[str] = set()
        for path in paths:
            getter, leaf, walked = self.resolve(obj, path)
            names = [r.relationship_name or r.name for r in walked] + [leaf.name]
            header = ".".join(names)
            if header.lower() in seen:
                raise self.error(path.pos, "MALFORMED_QUERY", f"duplicate field selected: {header}")
            seen.add(header.lower())
            columns.append(Column(header, getter, leaf))
            node = root
            for reference in walked:
                rel = reference.relationship_name or reference.name
                entry = node.entry(rel)
                if entry is None:
                    entry = Entry(rel, reference=reference, projection=Projection())
                    node.entries.append(entry)
                assert entry.projection is not None
                node = entry.projection
            node.entries.append(Entry(leaf.name, getter=self._getter(leaf, [])))
        return root, columns

    def order_key(self, obj: SObject, item: OrderItem) -> tuple[Getter, bool, bool]:
        getter, leaf, walked = self.resolve(obj, item.path, "order")
        name = leaf.name
        if leaf.is_text and not walked and leaf.derive is None:

            def plain(row: Record) -> Any:
                value = row.get(name)
                return value.lower() if value is not None else None

            return plain, item.descending, item.nulls_first
        if leaf.is_text:

            def key(row: Record) -> Any:
                value = getter(row)
                return value.lower() if value is not None else None

            return key, item.descending, item.nulls_first
        return getter, item.descending, item.nulls_first


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def compile_query(text: str, schema: Schema, lookup: Lookup, now: datetime | None = None) -> Query:
    """Parse and check `text` against the schema; SoqlError (MALFORMED_QUERY, INVALID_TYPE, INVALID_FIELD...)."""
    parsed = parse(text)
    obj = schema.get(parsed.object_name)
    if obj is None or not obj.queryable:
        raise _error_at(
            text,
            parsed.object_pos,
            "INVALID_TYPE",
            f"sObject type '{parsed.object_name}' is not supported. If you are attempting to use a custom object, be "
            "sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
        )
    compiler = _Compiler(text, schema, lookup, now or datetime.now(UTC))
    projection, columns = compiler.projection(obj, parsed.paths)
    where = compiler.condition(obj, parsed.where) if parsed.where is not None else None
    order = [compiler.order_key(obj, item) for item in parsed.order]
    if parsed.offset is not None and parsed.offset > MAX_OFFSET:
        raise _error_at(
            text, parsed.offset_pos, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
        )
    if parsed.count_only and order:
        raise _error_at(text, 0, "MALFORMED_QUERY", "ORDER BY cannot be used with COUNT() in the emulator")
    return Query(
        text,
        obj,
        parsed.count_only,
        projection,
        columns,
        where,
        order,
        parsed.limit,
        parsed.offset,
        parsed.offset is not None,
        lookup,
        schema,
    )
