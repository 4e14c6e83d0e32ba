"""Fast, streaming reading and writing of large ConvNetJS snapshot files.

Nearly all of a snapshot's bytes are the numbers in the ``w`` field of its
``Vol`` objects. ``read_json_file`` streams a file in blocks and parses each
``w`` value on its own, straight into a float64 array, so the Python objects
of all the weights never exist at once. Everything else (the "skeleton",
with a placeholder where each ``w`` was) is parsed by
``snapshot.parse_json_bytes``, with the same checks as a whole file.

The fast reader vouches only for files it fully understands. On anything
unusual it returns ``None``: a ``w`` containing a string, ``true``, ``null``
or a non-finite value, keys out of order, or a JSON error anywhere. The
caller then reads the file again with the checked path of
``convnetjs_keras.snapshot``, whose error messages are the reference. Values are bit-identical to
``json.loads``: both parsers round every decimal number correctly, and the
tests compare them.

``write_snapshot`` streams a ``NetSpec`` to a file layer by layer and writes
each ``w`` with orjson's shortest round-trip float formatting, which reads
back as the same float64 in Python and in JavaScript.

Without orjson both directions still stream, with the standard ``json``
module per ``w`` (slower).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np

try:
    import orjson
except ImportError:  # orjson is a dependency, but the standard library suffices
    orjson = None

logger = logging.getLogger(__name__)

# Bytes read from the file at a time. A ``w`` value longer than this makes the
# buffer grow to hold it whole.
BLOCK_SIZE = 4 * 1024 * 1024

# Key of the object placed in the skeleton where a ``w`` value was. The JSON
# escape \u0000 makes it a key no snapshot uses. A file that does use it is
# caught, because each placeholder index must appear exactly once.
_PLACEHOLDER_KEY = "\x00convnetjs_keras_w"
_PLACEHOLDER = b'{"\\u0000convnetjs_keras_w":%d}'

# A complete JSON string token, escapes included.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_WHITESPACE = b" \t\r\n"
# JSON numbers never contain these letters, and true, false and null each
# contain one, so two quick byte searches rule out all three.
_LETTERS_OF_LITERALS = (b"a", b"u")

_KEYS_CACHE: dict[int, list[str]] = {}


class _Unsupported(Exception):
    """The fast reader cannot vouch for the file; read it on the checked path."""


def read_json_file(path, label: str | None = None):
    """Parse a JSON file with every ``Vol``'s ``w`` as a float64 array.

    Args:
        path: the file to read.
        label: the file name used in messages, default ``str(path)``.

    Returns:
        The parsed JSON, with each ``"w"`` value that is an array or a
        ``{"0": ..}`` object of finite numbers replaced by a 1-D float64
        ``numpy`` array of its values in index order. Returns ``None`` when
        the file cannot be read or contains anything the fast path does not
        handle. The caller then reads it with ``snapshot.read_json``.
    """
    from convnetjs_keras.errors import ConvNetJSKerasError
    from convnetjs_keras.snapshot import parse_json_bytes

    label = label or os.fspath(path)
    try:
        with open(path, "rb") as handle:
            skeleton, arrays = _Scanner(handle).scan()
    except OSError as error:
        logger.debug("%s: fast reader cannot read the file (%s)", label, error)
        return None
    except _Unsupported as reason:
        logger.debug("%s: read on the checked path: %s", label, reason)
        return None

    used = [False] * len(arrays)

    def restore_arrays(obj: dict):
        if len(obj) == 1 and _PLACEHOLDER_KEY in obj:
            index = obj[_PLACEHOLDER_KEY]
            if not (type(index) is int and 0 <= index < len(arrays)) or used[index]:
                raise _Unsupported("a placeholder key was found in the file itself")
            used[index] = True
            return arrays[index]
        return obj

    try:
        result = parse_json_bytes(skeleton, label, object_hook=restore_arrays)
    except (ConvNetJSKerasError, _Unsupported) as reason:
        logger.debug("%s: read on the checked path: %s", label, reason)
        return None
    if not all(used):
        # Two "w" keys in one object: JSON keeps the last; the checked path decides.
        logger.debug("%s: read on the checked path: an object has a repeated 'w' key", label)
        return None
    return result


class _Scanner:
    """Split a JSON byte stream into a skeleton and parsed ``w`` arrays.

    The scan moves from string token to string token, so it always tracks
    whether it is inside a string. A ``w`` value is recognised only as the
    value of a ``"w"`` key that opens with ``[`` or ``{``. Its end is taken
    to be the first closing bracket of the same kind. That is right for a
    flat array or object of numbers, and anything nested then fails to parse.
    """

    def __init__(self, handle, block_size: int | None = None):
        self.handle = handle
        self.block_size = block_size or BLOCK_SIZE
        self.buffer = bytearray()
        self.position = 0
        self.at_end = False

    def fill(self, minimum: int = 0) -> bool:
        """Drop the bytes before ``position`` and read at least one more block."""
        if self.at_end:
            return False
        remaining = len(self.buffer) - self.position
        # Reading at least as much as remains makes the copying of a long value linear in its size.
        size = max(self.block_size, minimum, remaining)
        buffer = bytearray(remaining + size)
        buffer[:remaining] = memoryview(self.buffer)[self.position:]
        with memoryview(buffer) as view:
            count = self.handle.readinto(view[remaining:])
        if not count:
            self.at_end = True
            return False
        del buffer[remaining + count:]
        self.buffer = buffer
        self.position = 0
        return True

    def scan(self) -> tuple[bytes, list[np.ndarray]]:
        pieces: list[bytes] = []
        arrays: list[np.ndarray] = []
        self.fill()
        while True:
            buffer, start = self.buffer, self.position
            quote = buffer.find(b'"', start)
            if quote < 0:
                pieces.append(bytes(buffer[start:]))
                self.position = len(buffer)
                if not self.fill():
                    break
                continue
            token = _STRING.match(buffer, quote)
            if token is None:
                if not self.fill():
                    raise _Unsupported("a string is not closed")
                continue
            end = token.end()
            if end - quote == 3 and buffer[quote + 1] == 0x77:  # the key "w"
                found = self._value_after_key(end)
                if found is None:
                    continue  # more bytes were read; look at the same token again
                if found:
                    value_start, value_end = found
                    arrays.append(_parse_w(self.buffer, value_start, value_end))
                    pieces.append(bytes(self.buffer[start:value_start]))
                    pieces.append(_PLACEHOLDER % (len(arrays) - 1))
                    self.position = value_end
                    continue
            pieces.append(bytes(buffer[start:end]))
            self.position = end
        return b"".join(pieces), arrays

    def _value_after_key(self, key_end: int):
        """Return ``(start, end)`` of a bracketed value after ``"w"`` and a colon.

        Returns ``False`` when no ``[`` or ``{`` value follows, and ``None``
        after reading more bytes when the buffer ended too early to tell.
        """
        buffer = self.buffer
        index = key_end
        for expected in (b":", b"[{"):
            while index < len(buffer) and buffer[index] in _WHITESPACE:
                index += 1
            if index == len(buffer):
                return None if self.fill() else False
            if buffer[index] not in expected:
                return False
            index += 1
        closing = b"]" if buffer[index - 1] == 0x5B else b"}"
        close = buffer.find(closing, index)
        if close < 0:
            # Read at least as much again, so a long value costs linear time.
            if not self.fill(minimum=len(buffer)):
                raise _Unsupported("a 'w' value is not closed")
            return None
        return index - 1, close + 1


def _parse_w(buffer: bytearray, start: int, end: int) -> np.ndarray:
    """Parse the ``w`` value ``buffer[start:end]`` (array, or ``{"0": ..}`` object) into float64.

    Raises ``_Unsupported`` unless ``json.loads`` would give the same finite
    numbers: no strings, booleans, nulls or nested values, and an object's
    keys exactly "0", "1", ... in this order.
    """
    for letter in _LETTERS_OF_LITERALS:
        if buffer.find(letter, start, end) >= 0:
            raise _Unsupported("a 'w' value contains true, false, null or a string")
    with memoryview(buffer) as view:
        text = view[start:end]
        try:
            parsed = orjson.loads(text) if orjson is not None else json.loads(bytes(text))
        except ValueError as error:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
            raise _Unsupported(f"a 'w' value does not parse alone ({error})") from None
        finally:
            text.release()
    # numpy counts bytes about 4x faster than bytearray.count.
    quotes = int(np.count_nonzero(np.frombuffer(buffer, np.uint8, end - start, start) == 0x22))
    if type(parsed) is list:
        if quotes:
            raise _Unsupported("a 'w' array contains a string")
        values = parsed
    elif type(parsed) is dict:
        count = len(parsed)
        # Any quote beyond the keys' own would open a string value.
        if quotes != 2 * count or list(parsed) != _index_keys(count):
            raise _Unsupported("a 'w' object does not have the keys \"0\", \"1\", ... in order")
        values = parsed.values()
    else:
        raise _Unsupported("a 'w' value is not an array or object")
    try:
        array = np.fromiter(values, dtype=np.float64, count=len(parsed))
    except (TypeError, ValueError, OverflowError):
        raise _Unsupported("a 'w' value contains something other than numbers") from None
    if not np.isfinite(array).all():
        raise _Unsupported("a 'w' value is not finite")
    return array


def _index_keys(count: int) -> list[str]:
    """Return the keys "0" .. str(count - 1).

    With orjson the strings come from orjson itself, which caches short keys,
    so comparing them with a parsed object's keys mostly compares identities.
    """
    keys = _KEYS_CACHE.get(count)
    if keys is None:
        if orjson is not None:
            keys = list(orjson.loads(b"{" + b",".join(b'"%d":0' % i for i in range(count)) + b"}"))
        else:
            keys = [str(i) for i in range(count)]
        if len(_KEYS_CACHE) > 64:
            _KEYS_CACHE.clear()
        _KEYS_CACHE[count] = keys
    return keys


# --- writing --------------------------------------------------------------

_MARKER = "\x00convnetjs_keras_weights:%d"


def dumps_w(values: np.ndarray, *, typed_array_object: bool = False) -> bytes:
    """Return the JSON text of a ``Vol``'s ``w`` for finite ``values``.

    Each number is the shortest decimal that reads back as the same float64
    (orjson's formatting, or ``repr`` without orjson); JSON has no NaN or
    Infinity, so callers check for them first. ``typed_array_object`` writes
    ``{"0": v0, "1": v1, ...}``, the form ``JSON.stringify`` gives a
    ``Float64Array``.
    """
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if orjson is None:
        if typed_array_object:
            return json.dumps(dict(zip(_index_keys(flat.size), flat.tolist())), separators=(",", ":")).encode()
        return json.dumps(flat.tolist(), separators=(",", ":")).encode("ascii")
    if typed_array_object:
        # Python floats and numpy float64 values are formatted by the same shortest round-trip routine.
        return orjson.dumps(dict(zip(_index_keys(flat.size), flat.tolist())))
    return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)


def write_snapshot(path, net, *, digits: int | None = None, typed_array_objects: bool = False,
                   extra: dict | None = None, overwrite: bool = True, fsync: bool = True) -> None:
    """Write ``net_spec_to_json(net, ...)`` to ``path`` as compact JSON, streaming.

    The file contains the same JSON values as ``dumps_snapshot(net_spec_to_json(
    net, digits=digits, typed_array_objects=typed_array_objects,
    extra=extra))``, in the same key order, but the weights of one ``Vol``
    at a time are turned into text. Numbers are spelled as orjson writes
    them (``1e-7``, where Python writes ``1e-07``), which every JSON parser
    reads as the same float64. The file is written beside ``path`` and
    renamed into place when complete, after ``os.fsync`` unless ``fsync``
    is False (then the file may be lost or empty after a power failure).

    Networks with a NaN or infinite weight are passed to the checked writer,
    ``dumps_snapshot``, which raises for them.

    Raises:
        OutputPathError: ``path`` exists and ``overwrite`` is False.
    """
    from convnetjs_keras import converters
    from convnetjs_keras.errors import OutputPathError, Problem
    from convnetjs_keras.files import atomic_path
    from convnetjs_keras.snapshot import dumps_snapshot, net_spec_to_json
    from convnetjs_keras.vol import round_significant

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputPathError(Problem("already exists.", source=str(path),
                                      hint="Pass --force to replace it, or choose another path."))
    if not all(_weights_finite(spec) for spec in net.layers):
        # The checked writer raises the error for non-finite weights.
        data = dumps_snapshot(net_spec_to_json(net, digits=digits, typed_array_objects=typed_array_objects,
                                               extra=extra))
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(data)
        return

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(b'{"layers":[')
        for position, spec in enumerate(net.layers):
            if position:
                handle.write(b",")
            weights: list[np.ndarray] = []

            def mark_weights(values):
                values = np.asarray(values, dtype=np.float64)
                weights.append(round_significant(values, digits) if digits is not None else values)
                return _MARKER % (len(weights) - 1)

            layer = converters.get_converter(spec.layer_type).to_json(spec, mark_weights)
            text = _dumps(layer)
            for index, values in enumerate(weights):
                marker = _dumps(_MARKER % index)
                before, found, text = text.partition(marker)
                if not found:
                    raise RuntimeError(f"weight marker {index} is missing from layer {position}'s JSON")
                handle.write(before)
                handle.write(dumps_w(values, typed_array_object=typed_array_objects))
            handle.write(text)
        handle.write(b"]")
        for key, value in (extra or {}).items():
            if key == "layers":
                raise ValueError("extra fields cannot replace 'layers'")
            handle.write(b"," + _dumps(str(key)) + b":" + _dumps(value))
        handle.write(b"}")
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _weights_finite(spec) -> bool:
    return all(array is None or bool(np.isfinite(array).all()) for array in (spec.filters, spec.biases))
