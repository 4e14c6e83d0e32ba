"""Keras' own formats: ``.keras`` archives, and ``model.to_json()`` plus a
``.weights.h5`` file.

Loading always uses ``safe_mode=True``: a ``Lambda`` layer (which carries
Python bytecode) or an unknown custom object is rejected with its name.
"""

from __future__ import annotations

import json
from pathlib import Path

from convnetjs_keras.errors import KerasModelError, Problem
from convnetjs_keras.files import atomic_path


def custom_objects() -> dict:
    """Return every serializable class this library defines, by name."""
    from convnetjs_keras.layers import CUSTOM_OBJECTS
    from convnetjs_keras.regularizers import ConvNetJSDecay

    objects = dict(CUSTOM_OBJECTS)
    objects["ConvNetJSDecay"] = ConvNetJSDecay
    try:
        from convnetjs_keras import optimizers  # noqa: F401  (registers optimizers and losses)
    except ImportError:
        pass
    return objects


def _explain(error: Exception, label: str) -> KerasModelError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "lambda" in text.lower() or "safe_mode" in text:
        return KerasModelError(Problem(
            "contains a Lambda layer (arbitrary Python code), which is not loaded for safety: " + text,
            source=label, hint="Replace the Lambda with a registered custom layer, or rebuild the model without it."))
    if "Could not locate" in text or "Unknown" in text:
        return KerasModelError(Problem(f"uses an object Keras cannot find: {text}", source=label,
                                       hint="Only Keras' own layers and convnetjs_keras' layers can be loaded."))
    return KerasModelError(Problem(f"cannot be loaded as a Keras model: {text}", source=label))


def load_keras_model(path, weights=None, *, compile: bool = False):
    """Load a ``.keras`` archive, or a ``model.json`` with its ``.weights.h5``.

    Raises:
        KerasModelError: the file is missing, unsafe or not a Keras model.
    """
    import keras

    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise KerasModelError(Problem("file not found.", source=label))
    objects = custom_objects()
    if path.suffix == ".keras":
        if weights is not None:
            raise KerasModelError(Problem("a .keras archive already contains its weights; drop --weights.",
                                          source=label))
        try:
            return keras.saving.load_model(path, custom_objects=objects, compile=compile, safe_mode=True)
        except (ValueError, TypeError, KeyError, OSError) as error:
            raise _explain(error, label) from error
    if path.suffix == ".json":
        try:
            config = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise KerasModelError(Problem(f"is not valid JSON: {error}.", source=label)) from None
        if not isinstance(config, dict) or "class_name" not in config:
            hint = ("It looks like a ConvNetJS snapshot; use it directly (convert / from_snapshot)."
                    if isinstance(config, dict) and "layers" in config else
                    "Expected the output of model.to_json().")
            raise KerasModelError(Problem("is not a Keras model configuration (no 'class_name').", source=label,
                                          hint=hint))
        try:
            model = keras.saving.deserialize_keras_object(config, custom_objects=objects, safe_mode=True)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise _explain(error, label) from error
        if weights is None:
            raise KerasModelError(Problem("a model.json holds no weights.", source=label,
                                          hint="Give the weights file with --weights model.weights.h5."))
        weights = Path(weights)
        if not weights.is_file():
            raise KerasModelError(Problem("weights file not found.", source=str(weights)))
        try:
            model.load_weights(weights)
        except (ValueError, OSError, KeyError) as error:
            raise KerasModelError(Problem(f"does not match the model: {error}", source=str(weights))) from error
        return model
    raise KerasModelError(Problem(f"has suffix {path.suffix!r}; expected a .keras archive or a model.json.",
                                  source=label))


def save_keras_model(model, path, weights=None) -> list[Path]:
    """Save ``model`` as a ``.keras`` archive, or as ``model.json`` plus
    ``weights`` (a ``.weights.h5`` path). Each file is written atomically.
    Returns the paths written."""
    path = Path(path)
    if path.suffix == ".keras":
        with atomic_path(path) as tmp:
            model.save(tmp)
        return [path]
    if path.suffix == ".json":
        if weights is None:
            weights = path.with_name(path.stem + ".weights.h5")
        weights = Path(weights)
        if not weights.name.endswith(".weights.h5"):
            raise KerasModelError(Problem("must end in .weights.h5 (Keras' rule).", source=str(weights)))
        with atomic_path(weights) as tmp:
            model.save_weights(tmp)
        with atomic_path(path) as tmp:
            tmp.write_text(model.to_json(), encoding="utf-8")
        return [path, weights]
    raise KerasModelError(Problem(f"has suffix {path.suffix!r}; expected .keras or .json.", source=str(path)))
