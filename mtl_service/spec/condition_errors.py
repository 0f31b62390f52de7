"""Errors of the condition language, and the source text they point into."""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Sequence


class ConditionError(ValueError):
    """A condition that cannot be accepted, with where and what.

    Attributes:
        position: 1-based character offset of the offending text in the source.
        line, column: the same position as 1-based line and column.
        token: the offending text ("" at the end of the source).
    """

    def __init__(self, message: str, *, position: int, line: int, column: int, token: str):
        super().__init__(message)
        self.position, self.line, self.column, self.token = position, line, column, token


class MissingValueError(KeyError):
    """`evaluate` was given values without some names the condition reads."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(*names)
        self.names = tuple(names)

    def __str__(self) -> str:
        return f"the condition needs values that were not provided: {', '.join(self.names)}"


class SourceText:
    """The source text, and errors pointing into it."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Python's tokenizer breaks lines only at these; str.splitlines knows more.
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(self, lineno: int | None, byte_col: int | None) -> int:
        """Character offset of an ast (line, UTF-8 byte column) position."""
        line = min(max((lineno or 1) - 1, 0), len(self.line_starts) - 1)
        start = self.line_starts[line]
        head = self.text[start:].encode("utf-8", "surrogatepass")[: byte_col or 0]
        return start + len(head.decode("utf-8", "ignore"))

    def error(self, start: int, end: int, reason: str, hint: str = "") -> ConditionError:
        start = min(max(start, 0), len(self.text))
        line = bisect.bisect_right(self.line_starts, start) - 1
        column = start - self.line_starts[line] + 1
        where = f"column {column}"
        if len(self.line_starts) > 1:
            where = f"line {line + 1}, {where}"
        token = self.text[start : max(end, start + 1)]
        shown = "the end" if not token else repr(token if len(token) <= 40 else token[:37] + "...")
        message = f"{reason} {shown} at {where}" + (f"; {hint}" if hint else "")
        return ConditionError(
            message, position=start + 1, line=line + 1, column=column, token=token
        )

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Character offsets of a node's start and end."""
        start = self.offset(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
        end = self.offset(getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None))
        return start, end

    def at(self, node: ast.AST, reason: str, hint: str = "") -> ConditionError:
        return self.error(*self.span(node), reason, hint)
