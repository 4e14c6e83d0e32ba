"""Reading and writing the ``Vol`` objects inside snapshots.

``Vol.toJSON()`` writes ``{"sx": ..., "sy": ..., "depth": ..., "w": ...}``.
``w`` is a ``Float64Array`` in ConvNetJS, which ``JSON.stringify`` writes as
an object with keys "0" .. "n-1" (the "typed-array object" form); files
written by other tools use a plain array. ``Vol.fromJSON`` reads
``json.w[i]`` for ``i < sx * sy * depth``, so both forms load in ConvNetJS.
Values are stored as [y][x][depth]: ``w[((sx * y) + x) * depth + d]``.
"""

from __future__ import annotations

import math

import numpy as np

from convnetjs_keras.converters.base import _MAX_FLOAT_INT, ParseContext, Shape, _describe

_NUMBER_TYPES = frozenset((int, float))


def read_vol(vol, ctx: ParseContext, field: str, element=None, expect: Shape | None = None) -> np.ndarray | None:
    """Check one serialised ``Vol`` and return its ``w`` as float64.

    The declared size is compared with the data actually present before any
    array is allocated, so a hand-edited ``sx: 1e9`` cannot exhaust memory.
    Returns ``None`` after recording a problem in ``ctx``.
    """
    if not isinstance(vol, dict):
        ctx.problem(f"must be a Vol object with sx, sy, depth and w, found {_describe(vol)}.",
                    field=field, element=element)
        return None
    dims = []
    for key in ("sx", "sy", "depth"):
        value = ctx.integer(vol, key, minimum=1)
        if value is None:
            # Re-label the problem with the Vol's own location.
            last = ctx.problems.pop()
            ctx.problem(f"'{key}' {last.message}", field=field, element=element, hint=last.hint)
            return None
        dims.append(value)
    shape = Shape(*dims)
    if expect is not None and shape != expect:
        ctx.problem(
            f"has size {shape} (sx x sy x depth), expected {expect} from the layer's other fields.",
            field=field,
            element=element,
            hint="The file is inconsistent; it was probably edited by hand.",
        )
        return None
    if "w" not in vol:
        ctx.problem("has no 'w' (the values).", field=field, element=element)
        return None
    return read_w(vol["w"], shape.size, ctx, field, element)


def read_w(w, n: int, ctx: ParseContext, field: str, element=None) -> np.ndarray | None:
    """Return the ``n`` values of a ``w`` array or typed-array object."""
    where = dict(field=field, element=element)
    if isinstance(w, np.ndarray):
        # Parsed already by convnetjs_keras.fastjson, or an array put in a snapshot dict by a caller.
        return _read_w_array(w, n, ctx, where)
    if isinstance(w, list):
        values = w
        if len(values) != n:
            ctx.problem(f"'w' has {len(values)} values, expected sx*sy*depth = {n}.", **where)
            return None
    elif isinstance(w, dict):
        values = _typed_array_values(w, n, ctx, where)
        if values is None:
            return None
    else:
        ctx.problem(f"'w' must be an array or an object with keys \"0\"..\"{n - 1}\", found {_describe(w)}.",
                    **where)
        return None

    if not set(map(type, values)) <= _NUMBER_TYPES:
        _report_bad_value(values, ctx, field, element)
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:
        # A JSON integer of hundreds of digits is a valid int but overflows a float.
        index = next(i for i, v in enumerate(values) if isinstance(v, int) and abs(v) > _MAX_FLOAT_INT)
        ctx.problem(f"'w' [{index}] is {_describe(values[index])}, too large for a 64-bit float.", **where)
        return None
    if not np.isfinite(array).all():
        index = int(np.flatnonzero(~np.isfinite(array))[0])
        ctx.problem(f"'w' [{index}] is {float(array[index])!r}, not a finite number.",
                    hint="The network probably diverged before it was saved.", **where)
        return None
    return array


def _read_w_array(w: np.ndarray, n: int, ctx: ParseContext, where: dict) -> np.ndarray | None:
    """Return a numeric 1-D array of ``n`` finite values as float64."""
    if w.ndim != 1 or w.size != n:
        ctx.problem(f"'w' is an array of shape {w.shape}, expected sx*sy*depth = {n} values in one dimension.",
                    **where)
        return None
    if w.dtype.kind not in "iuf":
        ctx.problem(f"'w' is an array of dtype {w.dtype}, expected numbers.", **where)
        return None
    array = w.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        index = int(np.flatnonzero(~np.isfinite(array))[0])
        ctx.problem(f"'w' [{index}] is {float(array[index])!r}, not a finite number.",
                    hint="The network probably diverged before it was saved.", **where)
        return None
    return array


def _typed_array_values(w: dict, n: int, ctx: ParseContext, where: dict) -> list | None:
    """Return the values of a ``{"0": ..., "n-1": ...}`` object in index order.

    Keys are placed by their integer value, whatever their order. The work is
    bounded by the keys actually present, never by a declared ``n``.
    """
    extra = [key for key in w if not _is_index_key(key, n)]
    missing = None
    if len(w) - len(extra) < n:
        # At most len(w) + 1 candidates need checking before a missing index shows up.
        missing = next(str(i) for i in range(min(n, len(w) + 1)) if str(i) not in w)
    if missing is None and not extra:
        return [w[str(i)] for i in range(n)]
    found = []
    if missing is not None:
        found.append(f"key {missing!r} is missing")
    if extra:
        shown = ", ".join(_describe(key) for key in extra[:5])
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        found.append(f"unexpected key(s) {shown}{more}")
    ctx.problem(
        f"'w' has {len(w)} keys, expected exactly the {n} keys \"0\" to \"{n - 1}\" (sx*sy*depth); "
        + " and ".join(found) + ".",
        hint="The file is inconsistent or cut short; was it edited by hand?",
        **where,
    )
    return None


def _is_index_key(key: str, n: int) -> bool:
    """Return whether ``key`` is a canonical decimal index below ``n`` ("7", not "07" or "+7")."""
    return key.isdigit() and key.isascii() and (key == "0" or not key.startswith("0")) and int(key) < n


def _report_bad_value(values, ctx, field, element):
    for index, value in enumerate(values):
        if type(value) in _NUMBER_TYPES:
            continue
        if value is None:
            ctx.problem(
                f"'w' [{index}] is null, which is what ConvNetJS writes for NaN or Infinity.",
                field=field, element=element,
                hint="The network probably diverged before it was saved; use an earlier snapshot or retrain with a lower learning rate.",
            )
        elif isinstance(value, str):
            ctx.problem(f"'w' [{index}] is the string {value!r}, expected a number.",
                        field=field, element=element, hint="Write numbers without quotes.")
        else:
            ctx.problem(f"'w' [{index}] is {_describe(value)}, expected a number.",
                        field=field, element=element)
        return


def write_w(values: np.ndarray, *, digits: int | None = None, typed_array_object: bool = False):
    """Return the JSON value of a ``Vol``'s ``w`` for ``values``.

    Values are written as float64 (float32 weights convert exactly), so
    ConvNetJS reads back the very numbers Keras holds. ``digits`` rounds to
    that many significant digits; ``typed_array_object`` writes the
    ``{"0": ...}`` form that ``JSON.stringify`` gives for a ``Float64Array``.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if digits is not None:
        flat = round_significant(flat, digits)
    numbers = flat.tolist()
    if typed_array_object:
        return {str(i): v for i, v in enumerate(numbers)}
    return numbers


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round each value to ``digits`` significant decimal digits."""
    if digits < 1:
        raise ValueError(f"digits must be at least 1, received digits={digits}")
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
    exponent = np.where(np.isfinite(exponent), exponent, 0)
    scale = 10.0 ** (digits - 1 - exponent)
    return np.round(values * scale) / scale


def vol_json(values: np.ndarray, shape: Shape, write_weights) -> dict:
    """Return ``{"sx", "sy", "depth", "w"}`` as ``Vol.toJSON()`` orders them."""
    return {"sx": shape.sx, "sy": shape.sy, "depth": shape.depth, "w": write_weights(values)}


def is_finite_float(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
