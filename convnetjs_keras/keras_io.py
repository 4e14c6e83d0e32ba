"""Keras' own formats: ``.keras`` archives, and ``model.to_json()`` plus a
``.weights.h5`` file.

Loading always uses ``safe_mode=True``: a ``Lambda`` layer (which carries
Python bytecode) or an unknown custom object is rejected with its name.
Before Keras reads a file, ``check_model_config`` walks the model
configuration and lists every Lambda layer, every class from a module other
than Keras or convnetjs_keras and every custom object that is not
registered, so one error names them all.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from pathlib import Path

from convnetjs_keras.errors import KerasModelError, Problem
from convnetjs_keras.files import atomic_path

logger = logging.getLogger(__name__)


def custom_objects() -> dict:
    """Return every serializable class this library defines, by name."""
    from convnetjs_keras.layers import CUSTOM_OBJECTS
    from convnetjs_keras.regularizers import ConvNetJSDecay

    objects = dict(CUSTOM_OBJECTS)
    objects["ConvNetJSDecay"] = ConvNetJSDecay
    from convnetjs_keras.losses import LOSSES
    from convnetjs_keras.optimizers import OPTIMIZERS

    objects.update(LOSSES)
    objects.update(OPTIMIZERS)
    # The train command's metric, so that its model.keras loads with compile=True.
    from convnetjs_keras.callbacks import CostLoss

    objects["CostLoss"] = CostLoss
    return objects


# config.json of a .keras archive larger than this is rejected unread (a zip can
# expand a few kB into GBs). Configurations of Sequential models take a few kB per layer.
MAX_CONFIG_BYTES = 64 * 1024 * 1024

_TRUSTED_MODULES = ("keras", "convnetjs_keras")


def check_model_config(config, label: str) -> None:
    """Raise ``KerasModelError`` listing every object in a Keras model
    configuration that must not be loaded.

    Rejected: ``Lambda`` layers (they carry Python bytecode), classes whose
    ``module`` is neither Keras nor convnetjs_keras, and custom objects whose
    ``registered_name`` is not registered in this process. Anything else is
    left to ``keras.saving`` with ``safe_mode=True``.
    """
    import keras

    custom_objects()  # registers this library's classes
    registered = set(keras.saving.get_custom_objects())
    problems = []
    for node in _config_objects(config):
        class_name = node["class_name"]
        module = node.get("module")
        registered_name = node.get("registered_name")
        inner = node.get("config")
        layer_name = inner.get("name") if isinstance(inner, dict) else None
        what = f"layer {layer_name!r} ({class_name})" if isinstance(layer_name, str) else f"object {class_name!r}"
        if class_name == "Lambda":
            problems.append(Problem(
                f"{what} is a Lambda layer, which contains Python code; it is not loaded, for safety.",
                source=label, hint="Rebuild the model with a registered custom layer in place of the Lambda."))
        elif isinstance(module, str) and _is_trusted_module(module) or registered_name in registered:
            continue
        elif isinstance(registered_name, str) and registered_name != class_name:
            origin = f" (module {module!r})" if isinstance(module, str) else ""
            problems.append(Problem(
                f"{what} is the custom object {registered_name!r}{origin}, which is not registered here.",
                source=label, hint="Only Keras' own classes and convnetjs_keras' layers can be loaded; rebuild "
                                   "the model without it."))
        elif isinstance(module, str):
            problems.append(Problem(
                f"{what} comes from module {module!r}, which is neither Keras nor convnetjs_keras; "
                "it is not loaded, for safety.", source=label,
                hint="Only Keras' own classes and convnetjs_keras' layers can be loaded."))
    if problems:
        raise KerasModelError(problems)


def _config_objects(node):
    """Yield every dict with a string ``class_name`` in a configuration, depth first."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str):
                yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _is_trusted_module(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in _TRUSTED_MODULES)


def _read_archive_config(path: Path, label: str):
    """Check that ``path`` is a complete .keras zip archive and return its parsed config.json."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head.startswith(b"PK\x03\x04"):
        raise KerasModelError(Problem(f"is not a .keras archive: {_describe_head(head)}.", source=label,
                                      hint=_head_hint(head)))
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise KerasModelError(Problem(
                    "is a zip file without config.json, so it is not a Keras 3 .keras archive.", source=label,
                    hint="Save the model with model.save('model.keras') in Keras 3.")) from None
            if info.file_size > MAX_CONFIG_BYTES:
                raise KerasModelError(Problem(
                    f"its config.json expands to {info.file_size:,} bytes, more than the {MAX_CONFIG_BYTES:,} "
                    "bytes a model configuration needs.", source=label, hint="The archive is not a usable model."))
            data = archive.read(info)
    except zipfile.BadZipFile as error:
        raise KerasModelError(Problem(f"is a damaged or truncated zip archive ({error}).", source=label,
                                      hint="Save or copy the .keras file again.")) from None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KerasModelError(Problem(f"its config.json is not valid JSON ({error}).", source=label)) from None


def _describe_head(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "it is an HDF5 file (Keras weights or a legacy .h5 model), not a zip archive"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "it is JSON text, not a zip archive"
    return "it is not a zip archive"


def _head_hint(head: bytes) -> str:
    if b'"layer_type"' in head or b'"layers"' in head and b'"class_name"' not in head:
        return "It looks like a ConvNetJS snapshot; convert it with: convnetjs-keras convert SNAPSHOT.json OUT.keras"
    if head.startswith(b"\x89HDF"):
        return "Load it in Keras and save it again with model.save('model.keras')."
    return "Expected a file written by model.save('model.keras')."


def _summarize(error: Exception) -> str:
    """Return the first line of a Keras error, plus the shapes when weights do not fit."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if shapes:
        target = re.search(r"Target variable: <Variable path=([^,\s]+)", text)
        name = f"variable {target.group(1)}" if target else "a variable"
        return f"{name} has shape {shapes.group(1)} in the model but {shapes.group(2)} in the file."
    summary = text.splitlines()[0].rstrip()
    return summary if summary.endswith(".") else summary + "."


def _explain(error: Exception, label: str) -> KerasModelError:
    text = _summarize(error)
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
        check_model_config(_read_archive_config(path, label), label)
        try:
            return keras.saving.load_model(path, custom_objects=objects, compile=compile, safe_mode=True)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
            raise _explain(error, label) from error
    if path.suffix == ".json":
        try:
            config = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise KerasModelError(Problem(f"is not valid JSON: {error.msg} at line {error.lineno}, column "
                                          f"{error.colno}.", source=label,
                                          hint="Expected the output of model.to_json().")) from None
        except UnicodeDecodeError as error:
            raise KerasModelError(Problem(f"is not UTF-8 text (byte {error.start}).", source=label,
                                          hint="Expected the output of model.to_json().")) from None
        if not isinstance(config, dict) or "class_name" not in config:
            hint = ("It looks like a ConvNetJS snapshot; use it directly (convert / from_snapshot)."
                    if isinstance(config, dict) and "layers" in config else
                    "Expected the output of model.to_json().")
            raise KerasModelError(Problem("is not a Keras model configuration (no 'class_name').", source=label,
                                          hint=hint))
        check_model_config(config, label)
        try:
            model = keras.saving.deserialize_keras_object(config, custom_objects=objects, safe_mode=True)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise _explain(error, label) from error
        if weights is None:
            # `convert --json model.json` writes model.weights.h5 beside it.
            beside = path.with_name(path.stem + ".weights.h5")
            if not beside.is_file():
                raise KerasModelError(Problem(f"a model.json contains no weights, and {beside.name} is not beside it.",
                                              source=label,
                                              hint="Give the weights file with --weights model.weights.h5."))
            logger.info("%s: using the weights in %s", label, beside)
            weights = beside
        weights = Path(weights)
        if not weights.is_file():
            raise KerasModelError(Problem("weights file not found.", source=str(weights)))
        try:
            model.load_weights(weights)
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
            raise KerasModelError(Problem(f"cannot be loaded into the model of {label}: {_summarize(error)}",
                                          source=str(weights),
                                          hint="Pass the .weights.h5 file saved together with this model.json."
                                          )) from error
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
        # Both files are complete on disk before either is renamed into place, so a failure
        # while writing leaves the previous pair as it was.
        with atomic_path(weights) as tmp_weights, atomic_path(path) as tmp_json:
            model.save_weights(tmp_weights)
            tmp_json.write_text(model.to_json(), encoding="utf-8")
        return [path, weights]
    raise KerasModelError(Problem(f"has suffix {path.suffix!r}; expected .keras or .json.", source=str(path)))
