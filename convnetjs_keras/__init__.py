"""Translate ConvNetJS networks to Keras 3 and back.

Public API::

    from_snapshot(snapshot)       ConvNetJS snapshot -> keras.Sequential
    from_layer_defs(layer_defs)   makeLayers definitions -> untrained model
    to_snapshot(model)            Keras model -> Net.toJSON() dict
    load_snapshot(path), save_snapshot(model, path)
"""

from convnetjs_keras.errors import (
    ConvNetJSKerasError,
    DataError,
    DistributionError,
    KerasModelError,
    LayerDefinitionError,
    NetworkTextError,
    OutputPathError,
    SnapshotFormatError,
    TrainerOptionError,
    UnsupportedLayerError,
    UsageError,
)
from convnetjs_keras.version import __version__

_LAZY = {
    "from_snapshot": "convnetjs_keras.model",
    "from_layer_defs": "convnetjs_keras.model",
    "to_snapshot": "convnetjs_keras.model",
    "load_snapshot": "convnetjs_keras.model",
    "save_snapshot": "convnetjs_keras.model",
    "build_model": "convnetjs_keras.model",
    "load_magicnet": "convnetjs_keras.magicnet",
    "from_magicnet": "convnetjs_keras.magicnet",
    "to_magicnet": "convnetjs_keras.magicnet",
    "save_magicnet": "convnetjs_keras.magicnet",
    "predict": "convnetjs_keras.inference",
    "load_keras_model": "convnetjs_keras.keras_io",
    "save_keras_model": "convnetjs_keras.keras_io",
    "TrainerOptions": "convnetjs_keras.training",
    "make_optimizer": "convnetjs_keras.training",
    "make_loss": "convnetjs_keras.training",
    "compile_like_convnetjs": "convnetjs_keras.training",
    "decay_loss": "convnetjs_keras.training",
}


def __getattr__(name):
    # Keras and TensorFlow load only when a function that needs them is used,
    # so `convnetjs-keras --help` starts fast.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'convnetjs_keras' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ConvNetJSKerasError", "DataError", "DistributionError", "KerasModelError", "LayerDefinitionError", "NetworkTextError",
    "OutputPathError", "SnapshotFormatError", "TrainerOptionError", "UnsupportedLayerError", "UsageError", "__version__",
    *_LAZY,
]
