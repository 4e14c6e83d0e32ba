"""``layer_defs``: the network definitions passed to ``net.makeLayers``.

``makeLayers`` first desugars the list (convnet_net.js, the same in npm 0.3.0
and the GitHub source):

- ``softmax`` and ``svm`` get ``{type: 'fc', num_neurons: num_classes}`` in
  front, ``regression`` gets ``{type: 'fc', num_neurons: num_neurons}``;
- ``fc`` and ``conv`` without ``bias_pref`` get 0.1 when their activation is
  relu, else 0;
- ``tensor: true`` puts a ``quadtransform`` in front of the layer (npm 0.3.0);
- ``activation`` relu/sigmoid/tanh/maxout appends that layer (maxout with the
  definition's ``group_size``, default 2);
- ``drop_prob`` on any layer but ``dropout`` appends a dropout layer.

Then each definition gets the previous layer's output size and is built by its
layer type's converter.
"""

from __future__ import annotations

import copy

import numpy as np

from convnetjs_keras import converters
from convnetjs_keras.converters.base import ParseContext
from convnetjs_keras.errors import LayerDefinitionError, Problem
from convnetjs_keras.snapshot import NetSpec, _suggest

ACTIVATIONS = ("relu", "sigmoid", "tanh", "maxout")


def desugar(layer_defs: list[dict], source: str = "<layer_defs>") -> list[dict]:
    """Return the layer list ``makeLayers`` builds from ``layer_defs``.

    The input is not modified (ConvNetJS writes ``bias_pref`` into the
    caller's objects; this function works on copies).
    """
    if not isinstance(layer_defs, (list, tuple)):
        raise LayerDefinitionError(Problem(f"layer_defs must be a list of layer objects, found "
                                           f"{type(layer_defs).__name__}.", source=source))
    problems = []
    if len(layer_defs) < 2:
        problems.append(Problem("layer_defs needs at least an input layer and a loss layer.", source=source))
    out: list[dict] = []
    for index, definition in enumerate(layer_defs):
        if not isinstance(definition, dict):
            problems.append(Problem(f"must be an object, found {type(definition).__name__}.", source=source,
                                    layer_index=index))
            continue
        definition = copy.deepcopy(definition)
        layer_type = definition.get("type")
        where = dict(source=source, layer_index=index, layer_type=layer_type if isinstance(layer_type, str) else None)
        if layer_type is None:
            problems.append(Problem("has no 'type'.", field="type", **where))
            continue
        if not isinstance(layer_type, str) or converters.get_converter(layer_type) is None:
            problems.append(Problem(f"unknown type {layer_type!r}.", field="type",
                                    hint=_suggest(layer_type, converters.CONVERTERS)
                                    + "Known types: " + ", ".join(sorted(converters.CONVERTERS)) + ".", **where))
            continue
        if index == 0 and layer_type != "input":
            problems.append(Problem(f"the first layer must be 'input', found {layer_type!r}.", field="type",
                                    **where))
        if layer_type in ("softmax", "svm"):
            if "num_classes" not in definition:
                problems.append(Problem("is missing; softmax and svm layers need num_classes.",
                                        field="num_classes", **where))
                continue
            out.append({"type": "fc", "num_neurons": definition["num_classes"], "_from": index})
        if layer_type == "regression":
            if "num_neurons" not in definition:
                problems.append(Problem("is missing; a regression layer needs num_neurons.", field="num_neurons",
                                        **where))
                continue
            out.append({"type": "fc", "num_neurons": definition["num_neurons"], "_from": index})
        activation = definition.get("activation")
        if layer_type in ("fc", "conv") and "bias_pref" not in definition:
            definition["bias_pref"] = 0.1 if activation == "relu" else 0.0
        if definition.get("tensor"):
            out.append({"type": "quadtransform", "_from": index})
        definition["_from"] = index
        out.append(definition)
        if activation is not None:
            if activation not in ACTIVATIONS:
                problems.append(Problem(f"unsupported activation {activation!r}.", field="activation",
                                        hint=_suggest(activation, ACTIVATIONS)
                                        + "ConvNetJS supports relu, sigmoid, tanh and maxout.", **where))
                continue
            extra = {"type": activation, "_from": index}
            if activation == "maxout" and "group_size" in definition:
                extra["group_size"] = definition["group_size"]
            out.append(extra)
        if "drop_prob" in definition and layer_type != "dropout":
            out.append({"type": "dropout", "drop_prob": definition["drop_prob"], "_from": index})
    if problems:
        raise LayerDefinitionError(problems)
    return out


def net_spec_from_layer_defs(layer_defs, *, seed=None, source: str = "<layer_defs>") -> NetSpec:
    """Build a ``NetSpec`` with ConvNetJS's initial weights from ``layer_defs``.

    Weights are drawn from a normal distribution with std sqrt(1 / fan_in)
    using numpy's generator seeded with ``seed`` (ConvNetJS uses
    ``Math.random``, so the numbers differ but the distribution is the same).
    """
    rng = np.random.default_rng(seed)
    defs = desugar(layer_defs, source)
    ctx = ParseContext(source)
    specs = []
    in_shape = None
    for position, definition in enumerate(defs):
        ctx.layer_index = definition.pop("_from")
        ctx.layer_type = definition["type"]
        converter = converters.get_converter(definition["type"])
        before = len(ctx.problems)
        spec = converter.from_definition(definition, in_shape, rng, ctx)
        if spec is None:
            if len(ctx.problems) == before:
                ctx.problem("could not be built.")
            break
        spec.index = position
        specs.append(spec)
        in_shape = spec.out_shape
    if ctx.problems:
        raise LayerDefinitionError(ctx.problems)
    last = specs[-1].layer_type
    if last not in ("softmax", "svm", "regression"):
        raise LayerDefinitionError(Problem(f"the last layer is {last!r}; ConvNetJS networks end in a loss layer "
                                           "(softmax, svm or regression).", source=source,
                                           hint="Add e.g. {type: 'softmax', num_classes: 10}."))
    return NetSpec(specs, source)
