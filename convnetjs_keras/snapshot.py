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
import os
from pathlib import Path
from typing import Any

from convnetjs_keras import converters
from convnetjs_keras.converters.base import LayerSpec, ParseContext, Shape
from convnetjs_keras.errors import Problem, SnapshotFormatError

logger = logging.getLogger(__name__)

# JSON nested deeper than this is rejected before parsing. Snapshots nest 5
# levels (net, layers, layer, filters, Vol); wrappers add a few more.
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


def parse_json_bytes(data: bytes, label: str):
    """Parse JSON bytes (a UTF-8 byte-order mark is accepted)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise SnapshotFormatError(Problem("is empty, expected a ConvNetJS snapshot (JSON).", source=label,
                                          hint="Save it with JSON.stringify(net.toJSON())."))
    depth = _max_nesting(data)
    if depth > MAX_JSON_DEPTH:
        raise SnapshotFormatError(Problem(
            f"JSON is nested {depth} levels deep, more than the {MAX_JSON_DEPTH} levels a snapshot can need.",
            source=label, hint="This is not a ConvNetJS snapshot."))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SnapshotFormatError(Problem(f"is not UTF-8 text (byte {error.start}).", source=label,
                                          hint="Is it really a JSON snapshot?")) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise SnapshotFormatError(Problem(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}.", source=label,
            hint="The file may be cut short or edited by hand.")) from None
    except ValueError as error:
        raise SnapshotFormatError(Problem(str(error), source=label)) from None


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
    return f"The top level is {type(obj).__name__}."


def parse_snapshot(snapshot: dict, source: str = "<dict>", wrapper_path: str | None = None) -> NetSpec:
    """Check a snapshot dict completely and return its ``NetSpec``.

    Every problem in the file is collected; one ``SnapshotFormatError`` lists
    them all.
    """
    ctx = ParseContext(source)
    layers = snapshot.get("layers")
    if not isinstance(layers, list) or not layers:
        raise SnapshotFormatError(Problem("'layers' must be a non-empty list of layer objects.", source=source,
                                          field="layers"))
    specs: list[LayerSpec] = []
    in_shape: Shape | None = None
    for index, layer in enumerate(layers):
        ctx.layer_index, ctx.layer_type = index, None
        if not isinstance(layer, dict):
            ctx.problem(f"must be an object, found {type(layer).__name__}.")
            in_shape = None
            continue
        layer_type = layer.get("layer_type")
        if layer_type is None:
            ctx.problem("has no 'layer_type'.", field="layer_type",
                        hint="ConvNetJS itself would silently reuse the previous layer here; add the type.")
            in_shape = None
            continue
        ctx.layer_type = layer_type if isinstance(layer_type, str) else repr(layer_type)
        converter = converters.get_converter(layer_type) if isinstance(layer_type, str) else None
        if converter is None:
            known = ", ".join(sorted(converters.CONVERTERS))
            ctx.problem(f"unknown layer_type {layer_type!r}.", field="layer_type",
                        hint=_suggest(layer_type, converters.CONVERTERS) + f"Known types: {known}.")
            in_shape = None
            continue
        if index == 0 and layer_type != "input":
            ctx.problem(f"the first layer must be 'input', found {layer_type!r}.", field="layer_type")
        if index > 0 and layer_type == "input":
            ctx.problem("only the first layer can be 'input'.", field="layer_type")
            in_shape = None
            continue
        ctx.in_shape_text = str(in_shape) if in_shape else ""
        if index > 0 and in_shape is None:
            # The previous layer was unreadable; sizes cannot be checked.
            continue
        before = len(ctx.problems)
        spec = converter.parse(layer, ctx, in_shape)
        if spec is None:
            if len(ctx.problems) == before:
                ctx.problem("could not be read.")
            in_shape = None
            continue
        spec.index = index
        specs.append(spec)
        in_shape = spec.out_shape
    if ctx.problems:
        raise SnapshotFormatError(ctx.problems)
    return NetSpec(specs, source, wrapper_path)


def _suggest(word, choices) -> str:
    import difflib

    if isinstance(word, str):
        close = difflib.get_close_matches(word, list(choices), n=1)
        if close:
            return f"Did you mean {close[0]!r}? "
    return ""


def load_net_spec(source, *, key: str | None = None) -> NetSpec:
    """Read and check a snapshot given as a dict, a path or JSON text."""
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
