"""Read ConvNetJS network definitions written as JavaScript, without running them.

The ConvNetJS demo pages define their networks as a few lines of JavaScript
(``layer_defs.push({type:'conv', sx:5, ...});``). This module reads that small
subset of JavaScript with a tokenizer and a recursive-descent parser and
evaluates it as data. No code is executed. The grammar, with ``[x]`` optional
and ``{x}`` repeated zero or more times:

    program     = { statement } ;
    statement   = [ declaration | assignment | push | make_layers | new_object ] ( ";" | line break ) ;
    declaration = ( "var" | "let" | "const" ) NAME [ "=" value ] { "," NAME [ "=" value ] } ;
    assignment  = NAME "=" value ;
    push        = NAME "." "push" "(" [ expr { "," expr } [ "," ] ] ")" ;
    make_layers = NAME "." "makeLayers" "(" expr ")" ;
    value       = new_object | expr ;
    new_object  = "new" [ "convnetjs" "." ] ( "Net" [ "(" ")" ]
                | ( "Trainer" | "SGDTrainer" ) "(" NAME [ "," expr ] [ "," ] ")" ) ;
    expr        = term { ( "+" | "-" ) term } ;
    term        = unary { ( "*" | "/" | "%" ) unary } ;
    unary       = ( "-" | "+" ) unary | primary ;
    primary     = NUMBER | STRING | "true" | "false" | "null" | NAME | "(" expr ")" | object | array ;
    object      = "{" [ key ":" expr { "," key ":" expr } [ "," ] ] "}" ;   key = NAME | STRING
    array       = "[" [ expr { "," expr } [ "," ] ] "]" ;

A NAME used as a value must be a variable assigned earlier in the text. The
layer definitions are the array passed to ``makeLayers`` or, without such a
call, the array in the variable ``layer_defs``. The trainer options are the
second argument of the trainer constructor. ``//`` and ``/* */`` comments are
skipped. A number is an ``int`` when written without a fraction or exponent
(``784``, ``28*28``, ``(5-1)/2``) and a ``float`` otherwise (``0.0``, ``1e-4``, ``7/2``).

Where JavaScript would run the text without error but with a different result
than the text suggests, the parser raises instead. It rejects a key repeated in one
object, where JavaScript keeps the last value. It also rejects a push to an
array after makeLayers has read it or after the array was used as a value,
because this parser copies a variable's value at each use where JavaScript
shares the array.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import re
from collections.abc import Iterator
from typing import NamedTuple

from convnetjs_keras.errors import NetworkTextError, Problem

MAX_TEXT_BYTES = 1_048_576
"""Maximum size of network text, in UTF-8 bytes (1 MiB)."""

MAX_NESTING = 50
"""Maximum number of brackets, parentheses and unary operators open at one point of
an expression, counting the arrays and objects inside variables used there."""

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer that a JavaScript number (an IEEE 754 double) stores exactly."""

MAX_DERIVED_ITEMS = 200_000
"""Maximum number of array and object items copied from variables plus string
characters joined with ``+``, summed over the whole text. Each variable reference
copies its value, so without this limit a few lines that double a value could
build an exponentially large result."""

_UTF8_BOM_LENGTH = 3

_EXPECTED_STATEMENT = (
    "a statement: an assignment such as 'var size = 5;', 'layer_defs.push({...});' or 'net.makeLayers(layer_defs);'"
)
_EXPECTED_VALUE = "a value: a number, a string, an object, an array or a variable assigned earlier"
_NOT_RUN_HINT = (
    "The network text is read as data and never run, so write the value itself, "
    "for example 1.4142 in place of Math.sqrt(2)."
)

# Keywords that start code this module does not read. The parser names them in its errors.
_UNSUPPORTED_KEYWORDS = frozenset(
    """async await break case catch class continue debugger default delete do else enum export
    extends finally for function if import in instanceof of return static super switch this
    throw try typeof void while with yield""".split()
)
_RESERVED_NAMES = _UNSUPPORTED_KEYWORDS | {"var", "let", "const", "new", "true", "false", "null"}
_LITERAL_NAMES = {"true": True, "false": False, "null": None}

# Constructor names accepted after "new", mapped to the ConvNetJS class they create.
_CONSTRUCTORS = {
    "convnetjs.Net": "convnetjs.Net",
    "Net": "convnetjs.Net",
    "convnetjs.Trainer": "convnetjs.Trainer",
    "Trainer": "convnetjs.Trainer",
    "convnetjs.SGDTrainer": "convnetjs.SGDTrainer",
    "SGDTrainer": "convnetjs.SGDTrainer",
}

_NETWORK_TEXT_MARKERS = re.compile(
    r"\blayer_defs\b|\bmakeLayers\s*\(|\bnew\s+(?:convnetjs\s*\.\s*)?(?:Net|Trainer|SGDTrainer)\b"
)


@dataclasses.dataclass(frozen=True)
class NetworkText:
    """Layer definitions and trainer options read from ConvNetJS network text.

    ``layer_defs`` contains one plain dict per layer, in order. ``trainer_options``
    is None when the text constructs no trainer and ``{}`` when the trainer
    constructor gets no options argument.
    """

    layer_defs: list[dict]
    trainer_options: dict | None = None


def parse_network_text(text: str, source: str = "<text>") -> NetworkText:
    """Parse ConvNetJS network JavaScript into layer definitions and trainer options.

    ``source`` names the text in error messages, usually a file name. Raises
    NetworkTextError for text outside the grammar in the module docstring. The
    message names the source, the line and column, what was found and what was
    expected.
    """
    if len(text) > MAX_TEXT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise _text_too_large_error(source)
    return _Parser(text, source).parse()


def load_network_text(path: str | os.PathLike) -> NetworkText:
    """Read a UTF-8 file of ConvNetJS network JavaScript and parse it.

    A leading byte order mark is skipped. Raises NetworkTextError for a file
    larger than MAX_TEXT_BYTES, for invalid UTF-8 and for text outside the
    grammar. Errors from opening the file (FileNotFoundError and other
    OSError) propagate unchanged.
    """
    source = os.fsdecode(path)
    with open(path, "rb") as stream:
        data = stream.read(MAX_TEXT_BYTES + _UTF8_BOM_LENGTH + 1)
    if len(data) > MAX_TEXT_BYTES + _UTF8_BOM_LENGTH:
        raise _text_too_large_error(source)

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise NetworkTextError(
            _problem(f"invalid UTF-8 at byte offset {error.start}", source, "Save the file with UTF-8 encoding.")
        ) from None
    return parse_network_text(text, source)


def looks_like_network_text(text: str) -> bool:
    """Return whether ``text`` looks like JavaScript network text rather than JSON.

    The check is cheap and does not parse. Text that starts with '{', '[' or '"'
    is treated as JSON, because no statement of the grammar starts that way.
    Other text counts as network text when it mentions ``layer_defs``, calls
    ``makeLayers(`` or constructs a ConvNetJS Net or trainer.
    """
    stripped = text.lstrip("\ufeff").lstrip()
    if not stripped or stripped[0] in '{["':
        return False
    return _NETWORK_TEXT_MARKERS.search(text) is not None


def _problem(message: str, source: str, hint: str | None = None) -> Problem:
    """Build a Problem whose message ends with a full stop, so that a hint reads as a second sentence."""
    if not message.endswith((".", "?", "!")):
        message += "."
    return Problem(message, source=source, hint=hint)


def _text_too_large_error(source: str) -> NetworkTextError:
    return NetworkTextError(
        _problem(
            f"network text is larger than the limit of {MAX_TEXT_BYTES} bytes",
            source,
            "Keep only the layer_defs statements and the trainer line.",
        )
    )


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "name", "number", "string", "punct" or "end"
    text: str  # the token as written; empty for "end"
    value: object  # the number or the decoded string; None for other kinds
    line: int
    column: int
    newline_before: bool  # a line break separates this token from the previous one


# Every JavaScript punctuator is tokenized whole, so that an error shows '=>' or
# '===' rather than its first character. The parser accepts only a few of them.
_PUNCTUATORS = frozenset(
    """{ } [ ] ( ) ; , . : = + - * / % < > ! ~ ? & | ^ ... => == != === !== <= >= && || ??
    ?. ++ -- += -= *= /= %= &= |= ^= ** **= << >> >>> <<= >>= >>>= &&= ||= ??=""".split()
)
_MAX_PUNCTUATOR_LENGTH = max(len(punctuator) for punctuator in _PUNCTUATORS)

_LINE_TERMINATORS = "\n\r\u2028\u2029"
_NAME = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[\w$.]*")
_DECIMAL_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "'": "'",
    '"': '"',
    "\\": "\\",
}
_CURLY_QUOTES = "\u2018\u2019\u201c\u201d"


class _Lexer:
    """Tokenizer for the JavaScript subset, with 1-based line and column numbers."""

    def __init__(self, text: str, source: str):
        self._text = text
        self._source = source
        self._pos = 0
        self._line = 1
        self._line_start = 0

    def tokens(self) -> Iterator[_Token]:
        """Yield the tokens of the text, then "end" tokens forever."""
        text = self._text
        while True:
            newline_before = self._skip_space_and_comments()
            line, column = self._line, self._column()
            if self._pos >= len(text):
                while True:
                    yield _Token("end", "", None, line, column, newline_before)

            char = text[self._pos]
            if char in "'\"":
                value = self._read_string(line, column)
                yield _Token("string", "", value, line, column, newline_before)
            elif char in _DECIMAL_DIGITS or (char == "." and text[self._pos + 1 : self._pos + 2] in _DECIMAL_DIGITS):
                written, value = self._read_number(line, column)
                yield _Token("number", written, value, line, column, newline_before)
            else:
                match = _NAME.match(text, self._pos)
                if match:
                    self._pos = match.end()
                    yield _Token("name", match.group(), None, line, column, newline_before)
                else:
                    punctuator = self._read_punctuator(line, column)
                    yield _Token("punct", punctuator, None, line, column, newline_before)

    def _column(self) -> int:
        return self._pos - self._line_start + 1

    def _error(self, line: int, column: int, message: str, hint: str | None = None) -> NetworkTextError:
        return NetworkTextError(_problem(f"line {line}, column {column}: {message}", self._source, hint))

    def _skip_line_terminator(self) -> bool:
        """Step over a line break at the current position and return whether there was one."""
        text = self._text
        char = text[self._pos] if self._pos < len(text) else ""
        if not char or char not in _LINE_TERMINATORS:
            return False
        if text.startswith("\r\n", self._pos):
            self._pos += 2
        else:
            self._pos += 1
        self._line += 1
        self._line_start = self._pos
        return True

    def _skip_space_and_comments(self) -> bool:
        """Skip whitespace and comments and return whether they contained a line break."""
        text = self._text
        newline = False
        while self._pos < len(text):
            char = text[self._pos]
            if self._skip_line_terminator():
                newline = True
            elif char.isspace() or char == "\ufeff":
                self._pos += 1
            elif text.startswith("//", self._pos):
                while self._pos < len(text) and text[self._pos] not in _LINE_TERMINATORS:
                    self._pos += 1
            elif text.startswith("/*", self._pos):
                newline |= self._skip_block_comment()
            else:
                break
        return newline

    def _skip_block_comment(self) -> bool:
        text = self._text
        line, column = self._line, self._column()
        end = text.find("*/", self._pos + 2)
        if end < 0:
            raise self._error(line, column, "unterminated comment; expected '*/' to close the '/*'")

        newline = False
        self._pos += 2
        while self._pos < end:
            if self._skip_line_terminator():
                newline = True
            else:
                self._pos += 1
        self._pos = end + 2
        return newline

    def _read_number(self, line: int, column: int) -> tuple[str, int | float]:
        text = self._text
        match = _NUMBER.match(text, self._pos)
        tail = _NUMBER_TAIL.match(text, match.end()).group()
        if tail:
            written = text[self._pos : match.end()] + tail
            raise self._error(
                line,
                column,
                f"invalid number '{written}'; expected a decimal number such as 5, 0.5 or 1e-4",
                hint="Hexadecimal, octal, leading zeros and digit separators are not supported.",
            )

        written = match.group()
        self._pos = match.end()
        if any(char in written for char in ".eE"):
            value = float(written)
            if not math.isfinite(value):
                raise self._error(line, column, f"number {_shorten(written)} is too large; expected a finite number")
            return written, value

        # Checking the length first keeps int() away from huge digit strings.
        if len(written) > len(str(MAX_SAFE_INTEGER)) or int(written) > MAX_SAFE_INTEGER:
            raise self._error(
                line, column, f"number {_shorten(written)} is too large; expected at most {MAX_SAFE_INTEGER}"
            )
        return written, int(written)

    def _read_punctuator(self, line: int, column: int) -> str:
        text = self._text
        for length in range(_MAX_PUNCTUATOR_LENGTH, 0, -1):
            candidate = text[self._pos : self._pos + length]
            if len(candidate) == length and candidate in _PUNCTUATORS:
                self._pos += length
                return candidate

        char = text[self._pos]
        if char == "`":
            raise self._error(
                line,
                column,
                "template literals (`...`) are not supported; expected a string in '...' or \"...\" quotes",
            )
        if char in _CURLY_QUOTES:
            raise self._error(
                line,
                column,
                f"unexpected curly quote {_describe_char(char)}; expected a straight quote ' or \"",
                hint="Text copied from a web page or word processor can contain curly quotes.",
            )
        raise self._error(line, column, f"unexpected character {_describe_char(char)}")

    def _read_string(self, line: int, column: int) -> str:
        text = self._text
        quote = text[self._pos]
        self._pos += 1
        parts: list[str] = []
        while True:
            if self._pos >= len(text) or text[self._pos] in "\r\n":
                raise self._error(
                    line,
                    column,
                    f"unterminated string; expected a closing {quote} on the same line",
                )
            char = text[self._pos]
            if char == quote:
                self._pos += 1
                break
            if char == "\\":
                parts.append(self._read_escape())
            else:
                parts.append(char)
                self._pos += 1

        value = "".join(parts)
        if any("\ud800" <= char <= "\udfff" for char in value):
            value = self._join_surrogates(value, line, column)
        return value

    def _read_escape(self) -> str:
        """Decode the escape sequence at the current backslash and step over it."""
        text = self._text
        line, column = self._line, self._column()
        self._pos += 1
        if self._pos >= len(text):
            raise self._error(line, column, "unterminated string; expected a character after '\\'")
        char = text[self._pos]

        if self._skip_line_terminator():
            return ""  # A backslash before a line break continues the string on the next line.
        self._pos += 1
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "0" and not text[self._pos : self._pos + 1].isdigit():
            return "\0"
        if char.isdigit():
            raise self._error(line, column, f"octal escape '\\{char}' is not supported; expected '\\x' or '\\u'")
        if char == "x":
            return chr(self._read_hex(2, line, column))
        if char == "u":
            if text.startswith("{", self._pos):
                end = text.find("}", self._pos)
                digits = text[self._pos + 1 : end] if end >= 0 else ""
                if not digits or len(digits) > 6 or not set(digits) <= _HEX_DIGITS or int(digits, 16) > 0x10FFFF:
                    raise self._error(
                        line, column, "invalid '\\u{...}' escape; expected 1 to 6 hex digits up to 10FFFF"
                    )
                self._pos = end + 1
                return chr(int(digits, 16))
            return chr(self._read_hex(4, line, column))
        return char  # JavaScript drops the backslash before any other character.

    def _read_hex(self, count: int, line: int, column: int) -> int:
        digits = self._text[self._pos : self._pos + count]
        if len(digits) < count or not set(digits) <= _HEX_DIGITS:
            raise self._error(
                line, column, f"invalid escape; expected {count} hex digits after '\\{self._text[self._pos - 1]}'"
            )
        self._pos += count
        return int(digits, 16)

    def _join_surrogates(self, value: str, line: int, column: int) -> str:
        """Combine UTF-16 surrogate pairs from escapes such as '\\uD83D\\uDE00' into characters."""
        try:
            return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            raise self._error(
                line, column, "string contains an unpaired UTF-16 surrogate; expected a complete character"
            ) from None


def _describe_char(char: str) -> str:
    if char.isprintable():
        return f"'{char}'"
    return f"U+{ord(char):04X}"


def _shorten(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_token(token: _Token) -> str:
    if token.kind == "end":
        return "end of text"
    if token.kind == "string":
        return f"string {_shorten(repr(token.value))}"
    if token.kind == "number":
        return f"number {token.text}"
    if token.kind == "name":
        if token.text in _RESERVED_NAMES:
            return f"keyword '{token.text}'"
        return f"identifier '{token.text}'"
    return f"'{token.text}'"


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


class _ArrayValue(list):
    """JavaScript array under construction, with the source position of each element."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[tuple[int, int]] = []
        self.copied_at: _Token | None = None  # the first use of the array as a value

    def add(self, value: object, line: int, column: int) -> None:
        self.append(value)
        self.positions.append((line, column))


@dataclasses.dataclass(frozen=True)
class _ConstructedObject:
    """A ConvNetJS object made with ``new``, which can be stored but not used as a value."""

    class_name: str  # "convnetjs.Net", "convnetjs.Trainer" or "convnetjs.SGDTrainer"


class _Undefined:
    """Value of a variable declared without an initializer."""


_UNDEFINED = _Undefined()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe_value(value: object) -> str:
    if value is None:
        return "null"
    if value is _UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, _ConstructedObject):
        return f"a {value.class_name} object"
    return type(value).__name__


def _to_plain(value: object) -> object:
    """Return a copy of ``value`` built from plain lists and dicts."""
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    return value


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


class _Parser:
    """Recursive-descent parser that evaluates the statements as it reads them."""

    def __init__(self, text: str, source: str):
        self._source = source
        self._tokens = _Lexer(text, source).tokens()
        self._lookahead: collections.deque[_Token] = collections.deque()
        self._depth = 0
        self._derived_items = 0

        self._variables: dict[str, object] = {}
        self._declared_as: dict[str, str] = {}  # variable name -> "var", "let" or "const"
        self._declared_at: dict[str, _Token] = {}
        self._assigned_at: dict[str, _Token] = {}

        self._made_layers: _ArrayValue | None = None
        self._trainer_options: dict | None = None
        self._trainer_token: _Token | None = None

    # Token helpers

    def _peek(self, offset: int = 0) -> _Token:
        while len(self._lookahead) <= offset:
            self._lookahead.append(next(self._tokens))
        return self._lookahead[offset]

    def _advance(self) -> _Token:
        self._peek()
        return self._lookahead.popleft()

    @staticmethod
    def _is_punct(token: _Token, text: str) -> bool:
        return token.kind == "punct" and token.text == text

    @staticmethod
    def _is_variable_name(token: _Token) -> bool:
        return token.kind == "name" and token.text not in _RESERVED_NAMES

    def _error(self, token: _Token, message: str, hint: str | None = None) -> NetworkTextError:
        return NetworkTextError(_problem(f"line {token.line}, column {token.column}: {message}", self._source, hint))

    def _unexpected(self, token: _Token, expected: str, hint: str | None = None) -> NetworkTextError:
        return self._error(token, f"unexpected {_describe_token(token)}; expected {expected}", hint)

    def _expect_punct(self, text: str, expected: str | None = None) -> _Token:
        token = self._peek()
        if not self._is_punct(token, text):
            raise self._unexpected(token, expected or f"'{text}'")
        return self._advance()

    def _expect_variable_name(self, expected: str) -> _Token:
        token = self._peek()
        if not self._is_variable_name(token):
            raise self._unexpected(token, expected)
        return self._advance()

    # Statements

    def parse(self) -> NetworkText:
        while self._peek().kind != "end":
            self._parse_statement()
        return self._finish()

    def _parse_statement(self) -> None:
        token = self._peek()
        if self._is_punct(token, ";"):
            self._advance()
            return

        if token.kind != "name" or token.text in ("true", "false", "null"):
            raise self._unexpected(token, _EXPECTED_STATEMENT)
        if token.text in ("var", "let", "const"):
            self._parse_declaration()
        elif token.text == "new":
            self._parse_new()
        elif token.text in _UNSUPPORTED_KEYWORDS:
            raise self._unexpected(
                token,
                _EXPECTED_STATEMENT,
                hint="Loops, conditions, functions and other code are not supported. "
                "Write each layer_defs.push(...) out.",
            )
        else:
            self._parse_name_statement()
        self._end_statement()

    def _end_statement(self) -> None:
        token = self._peek()
        if self._is_punct(token, ";"):
            self._advance()
        elif token.kind != "end" and not token.newline_before:
            raise self._unexpected(token, "';' or a line break after the statement")

    def _parse_declaration(self) -> None:
        kind = self._advance().text
        while True:
            name_token = self._expect_variable_name(f"a variable name after '{kind}'")
            if self._is_punct(self._peek(), "="):
                self._advance()
                self._assign(name_token, self._parse_assigned_value(), kind)
            elif kind == "const":
                raise self._unexpected(self._peek(), f"'=' and a value for the constant '{name_token.text}'")
            else:
                # "var x;" keeps the value of an earlier "var x = ...", as in JavaScript.
                self._declare(name_token, kind)
                self._variables.setdefault(name_token.text, _UNDEFINED)

            if not self._is_punct(self._peek(), ","):
                return
            self._advance()

    def _declare(self, name_token: _Token, kind: str) -> None:
        name = name_token.text
        previous = self._declared_as.get(name)
        if previous is not None and (kind != "var" or previous != "var"):
            earlier = self._declared_at[name]
            raise self._error(
                name_token,
                f"'{name}' is already declared at line {earlier.line}; expected a new name after '{kind}'",
                hint=f"Drop the '{kind}' to assign a new value.",
            )
        self._declared_as[name] = kind
        self._declared_at.setdefault(name, name_token)
        self._assigned_at.setdefault(name, name_token)

    def _assign(self, name_token: _Token, value: object, kind: str | None) -> None:
        name = name_token.text
        if kind is not None:
            self._declare(name_token, kind)
        elif self._declared_as.get(name) == "const":
            raise self._error(
                name_token, f"assignment to the constant '{name}'; expected a variable declared with 'var' or 'let'"
            )
        self._variables[name] = value
        self._assigned_at[name] = name_token

    def _parse_name_statement(self) -> None:
        name_token = self._advance()
        following = self._peek()

        if self._is_punct(following, "="):
            self._advance()
            self._assign(name_token, self._parse_assigned_value(), None)
            return

        if self._is_punct(following, "("):
            raise self._error(
                name_token,
                f"function call '{name_token.text}(...)' is not supported; expected {_EXPECTED_STATEMENT}",
                hint=_NOT_RUN_HINT,
            )

        if not self._is_punct(following, "."):
            raise self._unexpected(following, f"'=' or '.push(' after '{name_token.text}'")
        self._advance()
        method_token = self._peek()
        if method_token.kind != "name":
            raise self._unexpected(method_token, "a method name such as 'push' after '.'")
        self._advance()
        statement = f"{name_token.text}.{method_token.text}"

        if self._is_punct(self._peek(), "(") and method_token.text == "push":
            self._parse_push(name_token)
        elif self._is_punct(self._peek(), "(") and method_token.text == "makeLayers":
            self._parse_make_layers(method_token)
        else:
            kind = "call" if self._is_punct(self._peek(), "(") else "property access"
            raise self._error(
                name_token,
                f"unsupported {kind} '{statement}'; expected 'NAME.push(...)' or 'NAME.makeLayers(...)'",
                hint="Only the statements that define the network and its trainer can be read.",
            )

    def _parse_push(self, receiver_token: _Token) -> None:
        open_token = self._expect_punct("(")
        target = self._array_variable(receiver_token, "push")
        if target is self._made_layers:
            raise self._error(
                receiver_token,
                f"'{receiver_token.text}.push(...)' after makeLayers has no effect on the network; "
                "expected the push before the makeLayers call",
            )
        if target.copied_at is not None:
            raise self._error(
                receiver_token,
                f"'{receiver_token.text}.push(...)' after '{receiver_token.text}' was used as a value at "
                f"line {target.copied_at.line}, column {target.copied_at.column}; "
                "expected every push before the array is used",
                hint="JavaScript would share the array between both places, but this parser copies it.",
            )

        while not self._is_punct(self._peek(), ")"):
            first = self._peek()
            target.add(self._parse_expression(), first.line, first.column)
            if self._is_punct(self._peek(), ","):
                self._advance()
            elif not self._is_punct(self._peek(), ")"):
                raise self._unexpected(
                    self._peek(),
                    f"',' or ')' to close the push( at line {open_token.line}, column {open_token.column}",
                )
        self._advance()

    def _parse_make_layers(self, method_token: _Token) -> None:
        self._expect_punct("(")
        if self._made_layers is not None:
            raise self._error(method_token, "second makeLayers call; expected one network per text")

        argument = self._peek()
        if self._is_variable_name(argument) and self._is_punct(self._peek(1), ")"):
            # Keep the variable's own array, so that a later push to it is detected.
            self._advance()
            layers = self._array_variable(argument, "makeLayers")
        else:
            value = self._parse_expression()
            if not isinstance(value, _ArrayValue):
                raise self._error(
                    argument,
                    f"makeLayers got {_describe_value(value)}; expected an array of layer definitions",
                )
            layers = value
        self._expect_punct(")", "')' after the makeLayers argument")
        self._made_layers = layers

    def _array_variable(self, token: _Token, method: str) -> _ArrayValue:
        name = token.text
        if name not in self._variables:
            raise self._error(
                token,
                f"unknown variable '{name}'; expected an array variable assigned earlier",
                hint=f"Start with '{name} = [];' before calling {method}.",
            )
        value = self._variables[name]
        if not isinstance(value, _ArrayValue):
            raise self._error(
                token,
                f"'{name}' is {_describe_value(value)}; expected an array for {method}",
                hint=f"Start with '{name} = [];' before calling {method}.",
            )
        return value

    # The right side of an assignment and "new"

    def _parse_assigned_value(self) -> object:
        token = self._peek()
        if token.kind == "name" and token.text == "new":
            return self._parse_new()
        return self._parse_expression()

    def _parse_new(self) -> _ConstructedObject:
        self._advance()
        name_token = self._peek()
        if name_token.kind != "name":
            raise self._unexpected(name_token, "a class name such as 'convnetjs.Net' after 'new'")
        parts = [self._advance().text]
        while self._is_punct(self._peek(), "."):
            self._advance()
            part = self._peek()
            if part.kind != "name":
                raise self._unexpected(part, "a name after '.'")
            parts.append(self._advance().text)
        written = ".".join(parts)

        class_name = _CONSTRUCTORS.get(written)
        if class_name is None:
            raise self._error(
                name_token,
                f"unknown constructor '{written}'; expected convnetjs.Net, convnetjs.Trainer or convnetjs.SGDTrainer",
            )
        if class_name == "convnetjs.Net":
            if self._is_punct(self._peek(), "("):
                self._advance()
                self._expect_punct(")", "')': convnetjs.Net() takes no arguments")
            return _ConstructedObject(class_name)

        self._parse_trainer_arguments(name_token, written)
        return _ConstructedObject(class_name)

    def _parse_trainer_arguments(self, name_token: _Token, written: str) -> None:
        self._expect_punct("(", f"'(' and the network after '{written}'")
        self._expect_variable_name("the network variable, for example 'net'")

        options: object = {}
        if self._is_punct(self._peek(), ","):
            self._advance()
            if not self._is_punct(self._peek(), ")"):
                options_token = self._peek()
                options = self._parse_expression()
                if not isinstance(options, dict):
                    raise self._error(
                        options_token,
                        f"trainer options are {_describe_value(options)}; expected an object such as {{method:'sgd'}}",
                    )
                if self._is_punct(self._peek(), ","):
                    self._advance()
        self._expect_punct(")", f"')': {written} takes the network and one options object")

        if self._trainer_token is not None:
            raise self._error(
                name_token,
                "second trainer; expected one trainer per text, "
                f"but one was already constructed at line {self._trainer_token.line}",
            )
        self._trainer_token = name_token
        self._trainer_options = options

    # Expressions

    def _parse_expression(self) -> object:
        value = self._parse_term()
        while self._peek().kind == "punct" and self._peek().text in ("+", "-"):
            operator = self._advance()
            value = self._apply_binary(operator, value, self._parse_term())
        return value

    def _parse_term(self) -> object:
        value = self._parse_unary()
        while self._peek().kind == "punct" and self._peek().text in ("*", "/", "%"):
            operator = self._advance()
            value = self._apply_binary(operator, value, self._parse_unary())
        return value

    def _parse_unary(self) -> object:
        token = self._peek()
        if not (token.kind == "punct" and token.text in ("+", "-")):
            return self._parse_primary()

        operator = self._advance()
        with self._nested(operator):
            operand = self._parse_unary()
        if not _is_number(operand):
            raise self._error(
                operator,
                f"unary '{operator.text}' got {_describe_value(operand)}; expected a number",
            )
        return -operand if operator.text == "-" else operand

    @contextlib.contextmanager
    def _nested(self, token: _Token) -> Iterator[None]:
        """Count one level of brackets, parentheses or unary operators while the block runs."""
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise self._error(
                    token,
                    f"expression nested more than {MAX_NESTING} levels deep; expected at most {MAX_NESTING} levels "
                    "of brackets, parentheses and unary operators",
                )
            yield
        finally:
            self._depth -= 1

    def _parse_primary(self) -> object:
        token = self._peek()
        if token.kind in ("number", "string"):
            self._advance()
            return token.value
        if token.kind == "name":
            return self._parse_name_value()
        if self._is_punct(token, "("):
            self._advance()
            with self._nested(token):
                value = self._parse_expression()
            self._expect_punct(")", f"')' to close the '(' at line {token.line}, column {token.column}")
            return value
        if self._is_punct(token, "{"):
            with self._nested(token):
                return self._parse_object()
        if self._is_punct(token, "["):
            with self._nested(token):
                return self._parse_array()
        raise self._unexpected(token, _EXPECTED_VALUE)

    def _parse_name_value(self) -> object:
        token = self._advance()
        name = token.text
        if name in _LITERAL_NAMES:
            return _LITERAL_NAMES[name]
        if name == "new":
            raise self._unexpected(
                token,
                _EXPECTED_VALUE,
                hint="'new convnetjs.Net()' and trainers can only be the whole value of an assignment.",
            )
        if name in _RESERVED_NAMES:
            raise self._unexpected(token, _EXPECTED_VALUE)

        dotted = name
        while self._is_punct(self._peek(), ".") and self._peek(1).kind == "name":
            self._advance()
            dotted += "." + self._advance().text
        if self._is_punct(self._peek(), "("):
            raise self._error(
                token,
                f"function call '{dotted}(...)' is not supported; expected {_EXPECTED_VALUE}",
                hint=_NOT_RUN_HINT,
            )
        if dotted != name:
            raise self._error(
                token,
                f"property access '{dotted}' is not supported; expected {_EXPECTED_VALUE}",
                hint=_NOT_RUN_HINT,
            )

        if name not in self._variables:
            raise self._error(
                token,
                f"unknown identifier '{name}'; expected {_EXPECTED_VALUE}",
                hint=f"Assign it before this line, for example 'var {name} = 5;', or write the value itself.",
            )
        value = self._variables[name]
        if value is _UNDEFINED:
            raise self._error(
                token, f"variable '{name}' is used before it is assigned a value; expected {_EXPECTED_VALUE}"
            )
        if isinstance(value, _ConstructedObject):
            raise self._error(
                token,
                f"'{name}' holds {_describe_value(value)}, which cannot be used as a value; expected {_EXPECTED_VALUE}",
            )
        return self._copy_variable_value(value, token)

    def _parse_object(self) -> dict:
        open_token = self._advance()
        closing = f"'}}' to close the object at line {open_token.line}, column {open_token.column}"
        result: dict = {}
        while not self._is_punct(self._peek(), "}"):
            key_token = self._peek()
            if key_token.kind == "name":
                key = key_token.text
            elif key_token.kind == "string":
                key = key_token.value
            else:
                raise self._unexpected(key_token, f"a property name or {closing}")
            self._advance()
            if key in result:
                raise self._error(
                    key_token,
                    f"duplicate key '{key}'; expected each key once per object",
                    hint="JavaScript would silently keep only the last value.",
                )
            self._expect_punct(":", f"':' after the key '{key}'")
            result[key] = self._parse_expression()

            if self._is_punct(self._peek(), ","):
                self._advance()
            elif not self._is_punct(self._peek(), "}"):
                raise self._unexpected(self._peek(), f"',' or {closing}")
        self._advance()
        return result

    def _parse_array(self) -> _ArrayValue:
        open_token = self._advance()
        closing = f"']' to close the array at line {open_token.line}, column {open_token.column}"
        result = _ArrayValue()
        while not self._is_punct(self._peek(), "]"):
            first = self._peek()
            if self._is_punct(first, ","):
                raise self._unexpected(first, f"an array element or {closing}")
            result.add(self._parse_expression(), first.line, first.column)

            if self._is_punct(self._peek(), ","):
                self._advance()
            elif not self._is_punct(self._peek(), "]"):
                raise self._unexpected(self._peek(), f"',' or {closing}")
        self._advance()
        return result

    def _apply_binary(self, operator: _Token, left: object, right: object) -> object:
        symbol = operator.text
        if symbol == "+" and isinstance(left, str) and isinstance(right, str):
            self._count_derived_items(len(left) + len(right), operator)
            return left + right
        if not (_is_number(left) and _is_number(right)):
            expected = "two numbers or two strings" if symbol == "+" else "two numbers"
            raise self._error(
                operator,
                f"operator '{symbol}' got {_describe_value(left)} and {_describe_value(right)}; expected {expected}",
            )

        try:
            if symbol == "+":
                result = left + right
            elif symbol == "-":
                result = left - right
            elif symbol == "*":
                result = left * right
            elif right == 0:
                raise self._error(operator, f"division by zero in '{symbol}'; expected a non-zero divisor")
            elif symbol == "/":
                exact = isinstance(left, int) and isinstance(right, int) and left % right == 0
                result = left // right if exact else left / right
            else:
                result = _js_remainder(left, right)
        except OverflowError:
            result = math.inf

        if isinstance(result, float) and not math.isfinite(result):
            raise self._error(operator, f"result of '{symbol}' is too large; expected a finite number")
        if isinstance(result, int) and abs(result) > MAX_SAFE_INTEGER:
            raise self._error(operator, f"result of '{symbol}' is {result}; expected at most {MAX_SAFE_INTEGER}")
        return result

    # Variable values

    def _copy_variable_value(self, value: object, token: _Token) -> object:
        """Return a copy of a variable's value, enforcing MAX_NESTING and MAX_DERIVED_ITEMS."""
        if not isinstance(value, (list, dict)):
            return value
        if isinstance(value, _ArrayValue) and value.copied_at is None:
            value.copied_at = token
        try:
            copied, depth, items = _copy_with_size(value, MAX_DERIVED_ITEMS - self._derived_items)
        except _TooManyItems:
            raise self._too_many_items_error(token) from None
        if self._depth + depth > MAX_NESTING:
            raise self._error(
                token,
                f"'{token.text}' nests its value more than {MAX_NESTING} levels deep at this point; "
                f"expected at most {MAX_NESTING} levels of arrays and objects",
            )
        self._count_derived_items(items, token)
        return copied

    def _count_derived_items(self, count: int, token: _Token) -> None:
        self._derived_items += count
        if self._derived_items > MAX_DERIVED_ITEMS:
            raise self._too_many_items_error(token)

    def _too_many_items_error(self, token: _Token) -> NetworkTextError:
        return self._error(
            token,
            f"variables and joined strings build more than {MAX_DERIVED_ITEMS} items; "
            "expected a network definition of ordinary size",
        )

    # Result

    def _finish(self) -> NetworkText:
        if self._made_layers is not None:
            layers = self._made_layers
        elif "layer_defs" in self._variables:
            layers = self._variables["layer_defs"]
            if not isinstance(layers, _ArrayValue):
                raise self._error(
                    self._assigned_at["layer_defs"],
                    f"'layer_defs' is {_describe_value(layers)}; expected an array of layer definitions",
                )
        else:
            raise NetworkTextError(
                _problem(
                    "no layer definitions found; expected an array assigned to 'layer_defs' "
                    "or passed to 'net.makeLayers(...)'",
                    self._source,
                    "Copy the network text including its 'layer_defs = [];' line.",
                )
            )

        for index, (element, (line, column)) in enumerate(zip(layers, layers.positions, strict=True)):
            if not isinstance(element, dict):
                raise NetworkTextError(
                    _problem(
                        f"line {line}, column {column}: layer definition {index} is {_describe_value(element)}; "
                        "expected an object such as {type:'fc', num_neurons:10}",
                        self._source,
                    )
                )

        trainer_options = None if self._trainer_options is None else _to_plain(self._trainer_options)
        return NetworkText(layer_defs=_to_plain(layers), trainer_options=trainer_options)


def _js_remainder(left: int | float, right: int | float) -> int | float:
    """Return ``left % right`` as JavaScript computes it: the sign follows ``left``."""
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    return math.fmod(left, right)


class _TooManyItems(Exception):
    """Raised by _copy_with_size when a copy exceeds its item budget."""


def _copy_with_size(value: object, max_items: int) -> tuple[object, int, int]:
    """Copy nested arrays and objects and return the copy, its nesting depth and its item count.

    Raises _TooManyItems as soon as the count exceeds ``max_items``, so that the
    work stays bounded by the budget rather than by the size of the value.
    """
    count = 0

    def copy(item: object) -> tuple[object, int]:
        nonlocal count
        count += 1
        if count > max_items:
            raise _TooManyItems
        if isinstance(item, _ArrayValue):
            copied_array = _ArrayValue()
            depth = 0
            for element, (line, column) in zip(item, item.positions, strict=True):
                element_copy, element_depth = copy(element)
                copied_array.add(element_copy, line, column)
                depth = max(depth, element_depth)
            return copied_array, depth + 1
        if isinstance(item, dict):
            copied_object = {}
            depth = 0
            for key, element in item.items():
                copied_object[key], element_depth = copy(element)
                depth = max(depth, element_depth)
            return copied_object, depth + 1
        return item, 0

    copied, depth = copy(value)
    return copied, depth, count
