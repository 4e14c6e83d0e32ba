"""ConvNetJS MagicNet files: ensembles of nets whose outputs are averaged.

``MagicNet.toJSON()`` writes ``{"nets": [snapshot, ...]}``, the best
``ensemble_size`` candidate nets. ``MagicNet.fromJSON`` reads only ``nets``,
and ``predict_soft(vol)`` runs every net on the same input and averages their
last layers' outputs (softmax probabilities for the nets MagicNet trains).

In Keras a MagicNet is a functional model: one ``keras.Input``, one
``keras.Sequential`` per net (named ``net_0``, ``net_1``, ...) and a
``keras.layers.Average`` named ``magicnet_average``. Only built-in and
registered layers are used, so the model saves and loads with
``safe_mode=True``.

NOTE: npm ``convnetjs@0.3.0`` divides the sum of the nets' outputs by the
number of classes instead of the number of nets (``xout.w[d] /= n`` with
``n = x.w.length``). The GitHub source divides by the number of nets. The
predicted label (the argmax) is the same. The Keras model computes the mean,
as the GitHub source does; multiply by ``nets / classes`` to get npm 0.3.0's
``predict_soft`` values.
"""

from __future__ import annotations

import logging

from convnetjs_keras.errors import Problem, SnapshotFormatError, UnsupportedLayerError
from convnetjs_keras.snapshot import NetSpec, parse_snapshot, read_json

logger = logging.getLogger(__name__)

NETS_KEY = "nets"
AVERAGE_LAYER_NAME = "magicnet_average"


def is_magicnet(obj) -> bool:
    """Return whether parsed JSON ``obj`` is a MagicNet file (``nets`` and no ``layers``)."""
    return isinstance(obj, dict) and NETS_KEY in obj and "layers" not in obj


def is_magicnet_file(path) -> bool:
    """Return whether the JSON file at ``path`` is a MagicNet file.

    A file that cannot be read as JSON gives False, so that the snapshot
    reader reports its problem."""
    try:
        obj, _ = read_json(path)
    except SnapshotFormatError:
        return False
    return is_magicnet(obj)


def parse_magicnet(obj, source: str = "<dict>") -> list[NetSpec]:
    """Check every net of a MagicNet dict and return their ``NetSpec`` list.

    Raises:
        SnapshotFormatError: listing the problems of every net, and nets whose
            input size or number of outputs differ from the first net's.
    """
    nets = obj.get(NETS_KEY) if isinstance(obj, dict) else None
    if not isinstance(nets, list) or not nets:
        raise SnapshotFormatError(Problem(
            "'nets' must be a non-empty list of snapshots.", source=source, field=NETS_KEY,
            hint="Save a MagicNet with JSON.stringify(magicNet.toJSON()) after it has evaluated candidates."))
    problems: list[Problem] = []
    specs: list[NetSpec] = []
    for index, net in enumerate(nets):
        label = f"{source} nets[{index}]"
        if not isinstance(net, dict):
            problems.append(Problem(f"must be a snapshot object, found {type(net).__name__}.", source=label))
            continue
        try:
            specs.append(parse_snapshot(net, label, f"{NETS_KEY}.{index}"))
        except SnapshotFormatError as error:
            problems.extend(error.problems)
    if not problems:
        first = specs[0]
        for index, spec in enumerate(specs[1:], start=1):
            label = f"{source} nets[{index}]"
            if spec.input_shape != first.input_shape:
                problems.append(Problem(
                    f"takes a {spec.input_shape} input, but nets[0] takes {first.input_shape}; every net of a "
                    "MagicNet is run on the same input.", source=label))
            if spec.layers[-1].out_shape.size != first.layers[-1].out_shape.size:
                problems.append(Problem(
                    f"has {spec.layers[-1].out_shape.size} outputs, but nets[0] has "
                    f"{first.layers[-1].out_shape.size}; predict_soft adds the outputs element by element.",
                    source=label))
    if problems:
        raise SnapshotFormatError(problems)
    return specs


def build_magicnet_model(specs: list[NetSpec], dtype: str = "float32", name: str = "magicnet"):
    """Return the Keras functional model averaging the outputs of ``specs``."""
    import keras

    from convnetjs_keras.model import build_model

    shape = specs[0].input_shape
    input_shape = (shape.depth,) if shape.is_vector else (shape.sy, shape.sx, shape.depth)
    inputs = keras.Input(input_shape, dtype=dtype, name="input")
    outputs = [build_model(spec, dtype, name=f"net_{index}")(inputs) for index, spec in enumerate(specs)]
    average = keras.layers.Average(name=AVERAGE_LAYER_NAME, dtype=dtype)(outputs)
    return keras.Model(inputs, average, name=name)


def from_magicnet(obj, *, dtype: str = "float32"):
    """Convert a MagicNet (``magicNet.toJSON()`` dict, a path or JSON text)
    to a Keras model whose output is the mean of its nets' outputs.

    Args:
        obj: the ``{"nets": [...]}`` dict, a path to a JSON file, or JSON text.
        dtype: ``"float32"`` (default) or ``"float64"``.

    Raises:
        SnapshotFormatError: the file is not a MagicNet, or a net is malformed.
    """
    from convnetjs_keras.model import _check_dtype

    _check_dtype(dtype)
    data, label = read_json(obj)
    if not is_magicnet(data):
        raise SnapshotFormatError(Problem(
            "is not a MagicNet file: expected an object with 'nets' (a list of snapshots).", source=label,
            hint="Load a single network with from_snapshot()."))
    specs = parse_magicnet(data, label)
    logger.debug("%s: MagicNet of %d nets", label, len(specs))
    return build_magicnet_model(specs, dtype)


def load_magicnet(path, *, dtype: str = "float32"):
    """Load a MagicNet JSON file as a Keras model (see ``from_magicnet``)."""
    from pathlib import Path

    return from_magicnet(Path(path), dtype=dtype)


def is_magicnet_model(model) -> bool:
    """Return whether ``model`` averages chains that all start at its input."""
    from convnetjs_keras.export import averaged_chains

    return averaged_chains(model) is not None


def magicnet_net_specs(model, *, output: str | None = None) -> list[NetSpec]:
    """Return one ``NetSpec`` per averaged chain of ``model``.

    Raises:
        UnsupportedLayerError: the model does not average chains, or a chain
            contains layers ConvNetJS cannot express (all are listed).
    """
    from convnetjs_keras.export import averaged_chains, chains_to_net_specs

    chains = averaged_chains(model)
    if chains is None:
        raise UnsupportedLayerError(Problem(
            "is not a MagicNet: its output must be a keras.layers.Average of chains that each start at the "
            "model's single input.", source=f"model {model.name!r}",
            hint="Export a single network with to_snapshot() instead."))
    return chains_to_net_specs(model, chains, output=output)


def to_magicnet(model, *, output: str | None = None, digits: int | None = None,
                typed_array_objects: bool = False) -> dict:
    """Return the ``MagicNet.toJSON()`` dict of an averaging Keras model.

    ``magicNet.fromJSON(JSON.parse(text))`` loads it, and ``predict_soft``
    then returns the Keras prediction (times ``nets / classes`` in npm
    0.3.0, see the module docstring). ``output``, ``digits`` and
    ``typed_array_objects`` apply to every net as in ``to_snapshot``.
    """
    from convnetjs_keras.snapshot import net_spec_to_json
    from convnetjs_keras.version import __version__

    specs = magicnet_net_specs(model, output=output)
    version = {"convnetjs_keras_version": __version__}
    nets = [net_spec_to_json(spec, digits=digits, typed_array_objects=typed_array_objects, extra=version)
            for spec in specs]
    return {NETS_KEY: nets, **version}


def save_magicnet(model, path, *, overwrite: bool = True, **kwargs) -> None:
    """Write ``to_magicnet(model, **kwargs)`` to ``path`` atomically."""
    from convnetjs_keras.files import atomic_write_bytes
    from convnetjs_keras.snapshot import dumps_snapshot

    atomic_write_bytes(path, dumps_snapshot(to_magicnet(model, **kwargs)), overwrite=overwrite)
