"""Helpers shared by the CLI subcommands: reading a network of any kind."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from convnetjs_keras.errors import KerasModelError, Problem

logger = logging.getLogger("convnetjs_keras.cli")


def positive_int(text: str) -> int:
    """Parse an argparse value that must be an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected a positive integer")
    return value


def non_negative_int(text: str) -> int:
    """Parse an argparse value that must be an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected an integer >= 0")
    return value


def model_kind(path) -> str:
    """Return "keras", "keras-json", "network-text" or "snapshot" for a path."""
    path = Path(path)
    if path.suffix == ".keras":
        return "keras"
    if path.suffix in (".js", ".txt"):
        return "network-text"
    if path.suffix == ".json" and path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        if head.startswith("{") and '"class_name"' in head and '"layer_type"' not in head:
            return "keras-json"
        return "snapshot"
    return "snapshot"


def add_model_arguments(parser, *, weights=True, key=True, dtype=True):
    if weights:
        parser.add_argument("--weights", metavar="FILE.weights.h5",
                            help="weights file of a model.json written by model.to_json()")
    if key:
        parser.add_argument("--key", help="path of a wrapped snapshot inside the JSON file, e.g. brain or 0.network")
    if dtype:
        parser.add_argument("--precision", choices=("float32", "float64"), default="float32",
                            help="floating-point precision of the Keras model (default: float32; ConvNetJS "
                                 "computes in float64)")


def load_any_model(path, args):
    """Load a snapshot, a .keras archive, a model.json (+ --weights) or
    network text as a Keras model."""
    import convnetjs_keras as ck
    from convnetjs_keras.keras_io import load_keras_model

    kind = model_kind(path)
    dtype = getattr(args, "precision", "float32")
    if kind in ("keras", "keras-json"):
        return load_keras_model(path, getattr(args, "weights", None))
    if getattr(args, "weights", None):
        raise KerasModelError(Problem("--weights goes with a Keras model.json, not a ConvNetJS snapshot.",
                                      source=str(path)))
    if kind == "network-text":
        from convnetjs_keras.network_text import load_network_text

        text = load_network_text(path)
        return ck.from_layer_defs(text.layer_defs, seed=getattr(args, "seed", None), dtype=dtype)
    return ck.from_snapshot(Path(path), key=getattr(args, "key", None), dtype=dtype)
