"""The converter protocol, the registry and the parsed-layer types.

Every ConvNetJS ``layer_type`` has one converter class, registered with
``@register``. A converter works in both directions:

- ``parse``: a snapshot layer (the dict that ``Layer.toJSON()`` wrote) to a
  ``LayerSpec``, checking every field it reads;
- ``from_definition``: a ``layer_defs`` entry (after desugaring) to a
  ``LayerSpec`` with ConvNetJS's initial weights;
- ``to_keras``: a ``LayerSpec`` to Keras layers, appended to a
  ``KerasBuilder``;
- ``to_json``: a ``LayerSpec`` to the dict ``Layer.toJSON()`` writes, with
  the same keys in the same order.

The Keras-to-ConvNetJS direction for arbitrary Keras layers lives in
``convnetjs_keras.export``, which produces ``LayerSpec`` objects and then uses
``to_json`` from here.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, NamedTuple

import numpy as np

from convnetjs_keras.errors import Problem


class Shape(NamedTuple):
    """A ConvNetJS volume size: width ``sx``, height ``sy``, ``depth``."""

    sx: int
    sy: int
    depth: int

    @property
    def size(self) -> int:
        return self.sx * self.sy * self.depth

    @property
    def is_vector(self) -> bool:
        return self.sx == 1 and self.sy == 1

    def __str__(self) -> str:
        return f"{self.sx}x{self.sy}x{self.depth}"


@dataclasses.dataclass
class LayerSpec:
    """One ConvNetJS layer, parsed and checked.

    ``options`` contains the scalar fields the layer type reads (``pad``,
    ``drop_prob``, ``l2_decay_mul``...). ``filters`` and ``biases`` are the
    weights: for ``conv`` the filters have shape (out_depth, sy, sx, in_depth)
    (a ConvNetJS filter ``Vol`` stores ``w[((sx * y) + x) * depth + d]``), for
    ``fc`` shape (out_depth, num_inputs); biases have shape (out_depth,).
    """

    layer_type: str
    in_shape: Shape | None
    out_shape: Shape
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    filters: np.ndarray | None = None
    biases: np.ndarray | None = None
    index: int | None = None


class ParseContext:
    """Collects problems while one snapshot is checked.

    Field readers record a ``Problem`` and return ``None`` instead of raising,
    so the caller can report every problem in the file at once.
    """

    def __init__(self, source: str | None):
        self.source = source
        self.problems: list[Problem] = []
        self.layer_index: int | None = None
        self.layer_type: str | None = None
        self.in_shape_text = ""

    def problem(self, message, field=None, element=None, hint=None):
        self.problems.append(
            Problem(
                message,
                source=self.source,
                layer_index=self.layer_index,
                layer_type=self.layer_type,
                field=field,
                element=element,
                hint=hint,
            )
        )

    def integer(self, layer, field, *, default=None, minimum=1, required=True):
        """Read a whole-number field; a missing field gives ``default``."""
        if field not in layer:
            if default is not None or not required:
                return default
            self.problem(
                "is missing.",
                field=field,
                hint="Every ConvNetJS snapshot of this layer type has it; "
                "was the file edited by hand or cut short?",
            )
            return None
        value = layer[field]
        if isinstance(value, str):
            self.problem(
                f"must be a number, found the string {_describe(value)}.",
                field=field,
                hint="Write it without quotes.",
            )
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.problem(
                f"must be a whole number, found {_describe(value)}.",
                field=field,
            )
            return None
        # math.isfinite raises OverflowError for an int beyond the float range.
        if not isinstance(value, int) and (not math.isfinite(value) or value != int(value)):
            self.problem(
                f"must be a whole number, found {value!r}.", field=field
            )
            return None
        value = int(value)
        if value < minimum:
            self.problem(
                f"must be at least {minimum}, found {_describe(value)}.", field=field
            )
            return None
        if value > MAX_SAFE_INTEGER:
            self.problem(
                f"is {_describe(value)}, larger than {MAX_SAFE_INTEGER}, the largest whole number a "
                "JavaScript number holds exactly.", field=field,
                hint="No ConvNetJS network has such a size; the file is corrupt or was edited by hand.",
            )
            return None
        return value

    def number(self, layer, field, *, default=None, required=True):
        """Read a real-number field; a missing field gives ``default``."""
        if field not in layer:
            if default is not None or not required:
                return default
            self.problem("is missing.", field=field)
            return None
        value = layer[field]
        if isinstance(value, str):
            self.problem(
                f"must be a number, found the string {_describe(value)}.",
                field=field,
                hint="Write it without quotes.",
            )
            return None
        if value is None:
            self.problem(
                "is null, which is what ConvNetJS writes for NaN or Infinity.",
                field=field,
                hint="The network probably diverged before it was saved.",
            )
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.problem(
                f"must be a number, found {_describe(value)}.", field=field
            )
            return None
        # A JSON integer of hundreds of digits is a valid int but overflows a float.
        if isinstance(value, int) and abs(value) > _MAX_FLOAT_INT:
            self.problem(f"is {_describe(value)}, too large for a 64-bit float.", field=field)
            return None
        return float(value)


_MAX_FLOAT_INT = int(np.finfo(np.float64).max)

# 2**53 - 1: whole numbers above it are not exact in a JavaScript number (an IEEE 754 double).
MAX_SAFE_INTEGER = 2**53 - 1


def _describe(value, limit: int = 40) -> str:
    """Return a short description of a JSON value for messages (long values are cut to ``limit`` characters)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    if isinstance(value, str) and len(text) > limit:
        text = f"{text[:limit]}...' ({len(value):,} characters)"
    return text


class KerasBuilder:
    """Accumulates the Keras layers of one model, tracking tensor rank.

    ConvNetJS passes volumes between all layers. In Keras a 1x1xD volume is
    kept as a vector of shape (batch, D), and a ``Reshape``/``Flatten`` is
    inserted only where a layer needs the other form.
    """

    def __init__(self, input_shape: Shape, dtype: str):
        self.dtype = dtype
        self.layers: list = []
        self.weights: list[tuple[Any, list[np.ndarray]]] = []
        self.shape = input_shape
        self.is_vector = input_shape.is_vector

    def name(self, spec: LayerSpec, suffix: str = "") -> str:
        base = f"{spec.layer_type}_{spec.index}" if spec.index is not None else spec.layer_type
        return base + suffix

    def need_volume(self, spec: LayerSpec):
        import keras

        if self.is_vector:
            self.layers.append(
                keras.layers.Reshape(
                    (self.shape.sy, self.shape.sx, self.shape.depth),
                    name=self.name(spec, "_to_volume"),
                    dtype=self.dtype,
                )
            )
            self.is_vector = False

    def need_vector(self, spec: LayerSpec):
        import keras

        if not self.is_vector:
            self.layers.append(
                keras.layers.Flatten(name=self.name(spec, "_flatten"), dtype=self.dtype)
            )
            self.is_vector = True

    def add(self, layer, weights: list[np.ndarray] | None = None):
        self.layers.append(layer)
        if weights is not None:
            self.weights.append((layer, weights))


class LayerConverter:
    """Base class of the per-layer-type converters."""

    layer_type: ClassVar[str]
    # Fields that ``Layer.toJSON()`` writes, in its order. ``to_json`` writes
    # exactly these.
    json_fields: ClassVar[tuple[str, ...]] = ()
    has_weights: ClassVar[bool] = False
    # Text of the README's support table (see ``support_table``).
    keras_layers: ClassVar[str] = ""
    options_read: ClassVar[str] = ""
    quirks: ClassVar[str] = ""

    def parse(self, layer: dict, ctx: ParseContext, in_shape: Shape | None) -> LayerSpec | None:
        raise NotImplementedError

    def from_definition(self, definition: dict, in_shape: Shape | None, rng, ctx: ParseContext) -> LayerSpec | None:
        raise NotImplementedError

    def to_keras(self, spec: LayerSpec, builder: KerasBuilder) -> None:
        raise NotImplementedError

    def to_json(self, spec: LayerSpec, write_weights) -> dict:
        """Return the snapshot dict of ``spec``; ``write_weights`` turns a
        1-D array into the JSON value of a ``Vol``'s ``w``."""
        out = {}
        for field in self.json_fields:
            if field == "out_sx":
                out[field] = spec.out_shape.sx
            elif field == "out_sy":
                out[field] = spec.out_shape.sy
            elif field == "out_depth":
                out[field] = spec.out_shape.depth
            elif field == "in_depth":
                out[field] = spec.in_shape.depth
            elif field == "layer_type":
                out[field] = self.layer_type
            elif field == "num_inputs":
                out[field] = spec.in_shape.size
            else:
                out[field] = spec.options[field]
        return out

    def describe(self, spec: LayerSpec) -> str:
        """Return the options column of ``inspect``."""
        return ", ".join(f"{k}={v}" for k, v in spec.options.items())

    def parameter_count(self, spec: LayerSpec) -> int:
        count = 0
        if spec.filters is not None:
            count += spec.filters.size
        if spec.biases is not None:
            count += spec.biases.size
        return count


CONVERTERS: dict[str, LayerConverter] = {}


def register(cls: type[LayerConverter]) -> type[LayerConverter]:
    """Class decorator: register a converter under its ``layer_type``."""
    layer_type = cls.layer_type
    if layer_type in CONVERTERS:
        raise RuntimeError(
            f"A converter for layer_type {layer_type!r} is already registered "
            f"({type(CONVERTERS[layer_type]).__name__}); each type has exactly one."
        )
    CONVERTERS[layer_type] = cls()
    return cls


def get_converter(layer_type: str) -> LayerConverter | None:
    return CONVERTERS.get(layer_type)


# A layer built from layer_defs may hold at most this many weights (800 MB as
# float64), so a typo such as num_neurons: 1e9 fails at once instead of
# exhausting memory.
MAX_LAYER_WEIGHTS = 100_000_000


def check_weight_count(ctx: ParseContext, count: int, field: str) -> bool:
    """Record a problem and return False when a layer would hold more than
    ``MAX_LAYER_WEIGHTS`` weights."""
    if count > MAX_LAYER_WEIGHTS:
        ctx.problem(f"would need {count:,} weights ({count * 8 / 1e9:.1f} GB as float64), more than the "
                    f"{MAX_LAYER_WEIGHTS:,} this tool builds for one layer.", field=field,
                    hint="Check the layer sizes for a typo.")
        return False
    return True


def randn(rng, shape, fan_in: int) -> np.ndarray:
    """ConvNetJS's initial weights: normal, mean 0, std sqrt(1 / fan_in)."""
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=shape)


def check_out_shape(layer: dict, ctx: ParseContext, expected: Shape) -> bool:
    """Compare the ``out_sx``/``out_sy``/``out_depth`` a snapshot declares
    with the size computed from the previous layer; record any mismatch."""
    ok = True
    for field, value in zip(("out_sx", "out_sy", "out_depth"), expected):
        found = ctx.integer(layer, field)
        if found is None:
            ok = False
        elif found != value:
            ctx.problem(
                f"is {found}, but this layer's input ({ctx.in_shape_text}) gives {value}.",
                field=field,
                hint="The file is inconsistent; was a size edited by hand?",
            )
            ok = False
    return ok


def support_table() -> str:
    """Return the Markdown table of supported layer types, made from the registry."""
    lines = ["| ConvNetJS layer | Keras | options read | ConvNetJS behaviour kept |",
             "|---|---|---|---|"]
    for layer_type in sorted(CONVERTERS):
        converter = CONVERTERS[layer_type]
        lines.append(f"| `{layer_type}` | {converter.keras_layers} | {converter.options_read or '-'} | "
                     f"{converter.quirks or '-'} |")
    return "\n".join(lines)
