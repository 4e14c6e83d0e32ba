"""The ConvNetJS snapshot format: reading, checking and writing JSON.

A snapshot is what ``JSON.stringify(net.toJSON())`` writes:
``{"layers": [layer, ...]}``, each layer a dict with a ``layer_type`` and the
fields its ``toJSON`` writes. Real files also come wrapped in another object
or a list (``{"brain": snapshot, ...}``, ``[{"network": snapshot}]``), start
with a UTF-8 byte-order mark, or use exponent notation; all are read here.
A MagicNet file is ``{"nets": [snapshot, ...]}``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from convnetjs_keras import converters
from convnetjs_keras.converters.base import MAX_SAFE_INTEGER, LayerSpec, ParseContext, Shape, _describe
from convnetjs_keras.errors import Problem, SnapshotFormatError

logger = logging.getLogger(__name__)

# JSON nested deeper than this is rejected before parsing. Snapshots nest 6
# levels (net, layers, layer, filters, Vol, w); wrappers add a few more.
MAX_JSON_DEPTH = 64


@dataclasses.dataclass
class NetSpec:
    """A parsed ConvNetJS network: its layers in order, and where it came from."""

    layers: list[LayerSpec]
    source: str = "<dict>"
    wrapper_path: str | None = None  # e.g. '[0]["network"]' when unwrapped

    @property
    def input_shape(self) -> Shape:
        return self.layers[0].out_shape

    @property
    def output_type(self) -> str:
        return self.layers[-1].layer_type


def _source_name(path) -> str:
    return os.fspath(path)


def read_json(source, *, name: str | None = None) -> tuple[Any, str]:
    """Return ``(parsed JSON, source name)`` for a dict/list, path, JSON text or bytes."""
    if isinstance(source, (dict, list)):
        return source, name or "<dict>"
    if isinstance(source, (bytes, bytearray)):
        return parse_json_bytes(bytes(source), name or "<bytes>"), name or "<bytes>"
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not _looks_like_json_text(source)):
        path = Path(source)
        label = name or _source_name(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SnapshotFormatError(Problem("file not found.", source=label,
                                              hint="Check the path.")) from None
        except IsADirectoryError:
            raise SnapshotFormatError(Problem("is a folder, expected a JSON file.", source=label)) from None
        except OSError as error:
            raise SnapshotFormatError(Problem(f"cannot be read: {error.strerror}.", source=label)) from None
        return parse_json_bytes(data, label), label
    if isinstance(source, str):
        return parse_json_bytes(source.encode("utf-8"), name or "<text>"), name or "<text>"
    raise TypeError(f"Expected a snapshot dict, a path or JSON text; received {type(source).__name__}.")


def _looks_like_json_text(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


def parse_json_bytes(data: bytes, label: str, *, object_hook=None):
    """Parse JSON bytes (a UTF-8 byte-order mark is accepted).

    The checks before parsing make no copy of ``data``, so a file of several
    hundred MB is held once as bytes and once as decoded text, and only while
    it is parsed. ``object_hook`` is passed to ``json.loads``.
    """
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    # data[bom:] is copied only when the text starts with whitespace, never for a snapshot written by
    # JSON.stringify, which starts with '{'.
    if len(data) == bom or (data[bom:bom + 1].isspace() and data[bom:].isspace()):
        raise SnapshotFormatError(Problem("is empty, expected a ConvNetJS snapshot (JSON).", source=label,
                                          hint="Save it with JSON.stringify(net.toJSON())."))
    _reject_binary_formats(data, label)
    depth = _max_nesting(data)
    if depth > MAX_JSON_DEPTH:
        raise SnapshotFormatError(Problem(
            f"JSON is nested more than {MAX_JSON_DEPTH} levels deep, but a snapshot nests 6 levels "
            "(net, layers, layer, filters, Vol, w), plus a few for a wrapper.",
            source=label, hint="This is not a ConvNetJS snapshot."))
    try:
        # "utf-8-sig" drops the byte-order mark while decoding, without copying the bytes first.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        position = error.start + bom
        line = data.count(b"\n", 0, position) + 1
        raise SnapshotFormatError(Problem(
            f"is not UTF-8 text: byte {position} (line {line}) is 0x{data[position]:02x}.", source=label,
            hint="ConvNetJS snapshots are JSON text; save the file as UTF-8.")) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_hook=object_hook)
    except json.JSONDecodeError as error:
        # Some of Python's messages end in "at" and rely on the position printed after them.
        reason = error.msg[:-3] + " here" if error.msg.endswith(" at") else error.msg
        raise SnapshotFormatError(Problem(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {reason}.", source=label,
            hint="The file may be cut short or edited by hand.")) from None
    except ValueError as error:
        # Raised by _reject_constant, and by Python for integers of more than 4300 digits.
        message = str(error)
        if "integer string conversion" in message:
            message = "invalid JSON: a number has more than 4300 digits, which no snapshot contains."
        raise SnapshotFormatError(Problem(message, source=label)) from None


def _reject_binary_formats(data: bytes, label: str) -> None:
    """Name the format of a zip (``.keras``) or HDF5 file given where JSON is expected."""
    if data.startswith(b"PK\x03\x04"):
        raise SnapshotFormatError(Problem(
            "is a zip archive (a Keras .keras file?), expected a ConvNetJS snapshot (JSON).", source=label,
            hint="To turn a .keras model into a snapshot, run: convnetjs-keras export MODEL.keras OUT.json"))
    if data.startswith(b"\x89HDF\r\n\x1a\n"):
        raise SnapshotFormatError(Problem(
            "is an HDF5 file (Keras weights or a legacy .h5 model), expected a ConvNetJS snapshot (JSON).",
            source=label, hint="Pass a .weights.h5 file with --weights, next to its model.json."))


def _reject_constant(name):
    raise ValueError(f"invalid JSON: {name} is not a JSON number; ConvNetJS itself writes null for NaN or "
                     "Infinity. The network probably diverged before it was saved.")


def _max_nesting(data: bytes) -> int:
    """Return the deepest bracket nesting of JSON ``data`` (brackets inside
    strings included, which can only over-count)."""
    import re

    depth = best = 0
    for match in re.finditer(rb"[\[\]{}]", data):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > best:
                best = depth
                if best > MAX_JSON_DEPTH:
                    return best
        else:
            depth -= 1
    return best


def find_snapshot(obj, label: str, key: str | None = None) -> tuple[dict, str | None]:
    """Return ``(snapshot dict, wrapper path)`` found in parsed JSON ``obj``.

    ``key`` picks a wrapped snapshot by path, e.g. ``"brain"`` or
    ``"0.network"``. Without it, the top level is used when it has ``layers``;
    otherwise the single dict with ``layers`` found one or two levels down.
    """
    if key is not None:
        node = obj
        for part in str(key).split("."):
            if isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise SnapshotFormatError(Problem(f"has no snapshot at key {key!r} (stopped at {part!r}).",
                                                  source=label, hint=_keys_hint(obj)))
        if not (isinstance(node, dict) and "layers" in node):
            raise SnapshotFormatError(Problem(f"the value at key {key!r} is not a snapshot (no 'layers').",
                                              source=label))
        return node, key
    if isinstance(obj, dict) and "layers" in obj:
        return obj, None
    candidates = []
    for path, node in _children(obj, ""):
        if isinstance(node, dict) and "layers" in node:
            candidates.append((path, node))
        else:
            for sub_path, sub in _children(node, path):
                if isinstance(sub, dict) and "layers" in sub:
                    candidates.append((sub_path, sub))
    if len(candidates) == 1:
        path, node = candidates[0]
        logger.info("%s: using the snapshot wrapped at key %r", label, path)
        return node, path
    if len(candidates) > 1:
        paths = ", ".join(repr(p) for p, _ in candidates[:10])
        raise SnapshotFormatError(Problem(f"contains {len(candidates)} snapshots (at {paths}).", source=label,
                                          hint="Choose one with --key (key= in Python)."))
    if isinstance(obj, dict) and "nets" in obj:
        raise SnapshotFormatError(Problem("is a MagicNet file ({\"nets\": [...]}), not a single snapshot.",
                                          source=label, hint="Load it with load_magicnet()."))
    raise SnapshotFormatError(Problem("is not a ConvNetJS snapshot: no 'layers' list found. " + _keys_hint(obj),
                                      source=label, hint="Save one with JSON.stringify(net.toJSON())."))


def _children(node, prefix):
    if isinstance(node, dict):
        for k, v in node.items():
            yield (f"{prefix}.{k}" if prefix else str(k)), v
    elif isinstance(node, list):
        for i, v in enumerate(node[:100]):
            yield (f"{prefix}.{i}" if prefix else str(i)), v


def _keys_hint(obj) -> str:
    if isinstance(obj, dict):
        keys = list(obj)[:12]
        return "Top-level keys found: " + (", ".join(map(repr, keys)) if keys else "none") + "."
    if isinstance(obj, list):
        return f"The top level is a list of {len(obj)} items."
    return f"The top level is {_describe(obj)}."


# ConvNetJS's Net.fromJSON picks the layer class with a chain of ``if (t === ...)``
# tests on a ``var L`` declared in the loop. JavaScript keeps ``var`` across loop
# iterations, so an entry with a missing or unknown layer_type is read into the
# previous layer's object, which is then pushed a second time (convnetjs 0.3.0,
# build/convnet.js). For the first entry the call fails with a TypeError.
_REUSE_HINT = ("ConvNetJS itself would silently reuse the previous layer for this entry instead of "
               "failing; set the layer_type this layer was saved with.")

MAX_VOLUME_VALUES = 2**31 - 1
"""Largest volume (sx * sy * depth values) a layer may output. ConvNetJS keeps a
volume in one Float64Array, so a larger one would take more than 16 GiB for a
single example. Sizes beyond it come from hand edits or corruption."""


def parse_snapshot(snapshot: dict, source: str = "<dict>", wrapper_path: str | None = None) -> NetSpec:
    """Check a snapshot dict completely and return its ``NetSpec``.

    Every problem in the file is collected, and one ``SnapshotFormatError``
    lists them all. After a layer that cannot be read, checking goes on with
    the output size that layer declares (``out_sx``, ``out_sy``,
    ``out_depth``), so the layers after it are checked as well.
    Weights are checked against the sizes declared before any array is
    allocated, and no layer may output more than ``MAX_VOLUME_VALUES`` values.
    """
    if not isinstance(snapshot, dict):
        raise SnapshotFormatError(Problem(
            f"is not a ConvNetJS snapshot: expected an object with 'layers', found {_describe(snapshot)}.",
            source=source))
    ctx = ParseContext(source)
    layers = snapshot.get("layers")
    if not isinstance(layers, list) or not layers:
        found = "an empty list" if layers == [] else _describe(layers)
        raise SnapshotFormatError(Problem(f"must be a non-empty list of layer objects, found {found}.",
                                          source=source, field="layers"))
    specs: list[LayerSpec] = []
    in_shape: Shape | None = None
    for index, layer in enumerate(layers):
        ctx.layer_index, ctx.layer_type = index, None
        if not isinstance(layer, dict):
            ctx.problem(f"must be a layer object, found {_describe(layer)}.")
            in_shape = None
            continue
        layer_type = layer.get("layer_type")
        if layer_type is None:
            ctx.problem("is missing.", field="layer_type", hint=_REUSE_HINT)
            in_shape = _declared_out_shape(layer)
            continue
        ctx.layer_type = layer_type if isinstance(layer_type, str) and len(layer_type) <= 40 else _describe(layer_type)
        converter = converters.get_converter(layer_type) if isinstance(layer_type, str) else None
        if converter is None:
            known = ", ".join(sorted(converters.CONVERTERS))
            ctx.problem(f"unknown layer_type {_describe(layer_type)}; expected one of: {known}.", field="layer_type",
                        hint=_suggest(layer_type, converters.CONVERTERS) + _REUSE_HINT)
            in_shape = _declared_out_shape(layer)
            continue
        if index == 0 and layer_type != "input":
            ctx.problem(f"the first layer must be 'input', found {layer_type!r}.", field="layer_type",
                        hint="Is the start of the file missing?")
            in_shape = _declared_out_shape(layer)
            continue
        if index > 0 and layer_type == "input":
            ctx.problem("only the first layer can be 'input'.", field="layer_type",
                        hint="Is this two snapshots joined together?")
            in_shape = _declared_out_shape(layer)
            continue
        ctx.in_shape_text = str(in_shape) if in_shape else ""
        if index > 0 and in_shape is None:
            # The input size of this layer is unknown, so its checks would only repeat the
            # previous layer's problem. Checking resumes after it, from the size it declares.
            in_shape = _declared_out_shape(layer)
            continue

        before = len(ctx.problems)
        spec = converter.parse(layer, ctx, in_shape)
        if spec is None:
            new_problems = ctx.problems[before:]
            if not new_problems:
                ctx.problem("could not be read.")
            # A declared output size that was itself found wrong would make the next layer
            # report the same mistake again.
            disputed = any(problem.field in _OUT_FIELDS for problem in new_problems)
            in_shape = None if disputed else _declared_out_shape(layer)
            continue
        if spec.out_shape.size > MAX_VOLUME_VALUES:
            ctx.problem(f"outputs {spec.out_shape} (sx x sy x depth) = {spec.out_shape.size:,} values per "
                        f"example; expected at most {MAX_VOLUME_VALUES:,}.",
                        hint="The sizes were probably edited by hand or the file is corrupt.")
            in_shape = None
            continue
        spec.index = index
        specs.append(spec)
        in_shape = spec.out_shape
    if ctx.problems:
        raise SnapshotFormatError(ctx.problems)
    return NetSpec(specs, source, wrapper_path)


_OUT_FIELDS = ("out_sx", "out_sy", "out_depth")


def _declared_out_shape(layer: dict) -> Shape | None:
    """Return the output size a layer declares, or ``None`` unless all three sizes are whole numbers >= 1."""
    sizes = [layer.get(field) for field in _OUT_FIELDS]
    for value in sizes:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
            return None
        if not 1 <= value <= MAX_SAFE_INTEGER:
            return None
    return Shape(*(int(value) for value in sizes))


def _suggest(word, choices) -> str:
    import difflib

    if isinstance(word, str):
        close = difflib.get_close_matches(word, list(choices), n=1)
        if close:
            return f"Did you mean {close[0]!r}? "
    return ""


def load_net_spec(source, *, key: str | None = None) -> NetSpec:
    """Read and check a snapshot given as a dict, a path or JSON text.

    A file is first read by ``fastjson.read_json_file``, which streams the
    weights into arrays. When it declines the file, or the snapshot has a
    problem, the file is read again by ``read_json``, so every error message
    comes from the checked path.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not _looks_like_json_text(source)):
        from convnetjs_keras.fastjson import read_json_file

        label = _source_name(Path(source))
        obj = read_json_file(source, label)
        if obj is not None:
            try:
                snapshot, path = find_snapshot(obj, label, key)
                return parse_snapshot(snapshot, label, path)
            except SnapshotFormatError:
                logger.debug("%s: reading it again on the checked path to report its problems", label)
    obj, label = read_json(source)
    snapshot, path = find_snapshot(obj, label, key)
    return parse_snapshot(snapshot, label, path)


def net_spec_to_json(net: NetSpec, *, digits: int | None = None, typed_array_objects: bool = False,
                     extra: dict | None = None) -> dict:
    """Return the ``Net.toJSON()`` dict of ``net``; ``extra`` fields (which
    ConvNetJS ignores) are added after ``layers``."""
    from convnetjs_keras.vol import write_w

    def write_weights(values):
        return write_w(values, digits=digits, typed_array_object=typed_array_objects)

    layers = [converters.get_converter(spec.layer_type).to_json(spec, write_weights) for spec in net.layers]
    out = {"layers": layers}
    if extra:
        out.update(extra)
    return out


def dumps_snapshot(snapshot: dict) -> bytes:
    """Serialise a snapshot dict compactly, as ``JSON.stringify`` does."""
    return json.dumps(snapshot, separators=(",", ":"), allow_nan=False).encode("utf-8")
