"""Exception hierarchy shared by the whole package.

Every error the library raises on bad user input derives from
``ConvNetJSKerasError``. Messages follow one recipe: what is wrong, where
(file, layer index and type, field, element index), what was expected, what
was found, and what to do. ``Problem`` carries one such finding, so a reader
that checks a whole file can report every problem at once.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem found in an input, with its location."""

    message: str
    source: str | None = None  # file name or "<dict>", "<text>"
    layer_index: int | None = None
    layer_type: str | None = None
    field: str | None = None
    element: int | str | None = None
    hint: str | None = None

    def location(self) -> str:
        parts = []
        if self.source:
            parts.append(str(self.source))
        if self.layer_index is not None:
            layer = f"layer {self.layer_index}"
            if self.layer_type:
                layer += f" ({self.layer_type})"
            parts.append(layer)
        if self.field:
            field = f"field '{self.field}'"
            if self.element is not None:
                field += f" [{self.element}]"
            parts.append(field)
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" {self.hint}"
        return text


class ConvNetJSKerasError(Exception):
    """Base class of every error raised for invalid user input.

    ``problems`` lists each finding; ``str(error)`` joins them, one a line,
    after a one-line summary when there are several.
    """

    exit_code = 3  # the CLI's exit status for this error

    def __init__(self, message_or_problems, *, hint: str | None = None):
        if isinstance(message_or_problems, Problem):
            problems = [message_or_problems]
        elif isinstance(message_or_problems, str):
            problems = [Problem(message_or_problems, hint=hint)]
        else:
            problems = list(message_or_problems)
        self.problems = problems
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems found:"]
        lines += [f"  - {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        hidden = len(self.problems) - MAX_LISTED_PROBLEMS
        if hidden > 0:
            lines.append(f"  ... and {hidden} more; fix these first, then run again to see the rest.")
        return "\n".join(lines)


# str(error) lists at most this many problems; ``error.problems`` keeps all.
MAX_LISTED_PROBLEMS = 50


class UsageError(ConvNetJSKerasError, ValueError):
    """Command-line arguments that cannot be used together or are out of range.

    The CLI exits with status 2 for it, as argparse does for its own usage errors.
    """

    exit_code = 2


class SnapshotFormatError(ConvNetJSKerasError, ValueError):
    """A ConvNetJS snapshot (or MagicNet file) is malformed or inconsistent."""


class LayerDefinitionError(ConvNetJSKerasError, ValueError):
    """A ``layer_defs`` list cannot be built into a network."""


class NetworkTextError(ConvNetJSKerasError, ValueError):
    """JavaScript network text is outside the grammar this library reads."""


class UnsupportedLayerError(ConvNetJSKerasError, ValueError):
    """A Keras model contains layers that ConvNetJS cannot express."""


class TrainerOptionError(ConvNetJSKerasError, ValueError):
    """ConvNetJS trainer options are invalid or unknown."""


class DistributionError(ConvNetJSKerasError, ValueError):
    """A distribution strategy cannot be set up: wrong backend, invalid TF_CONFIG, or batch size."""


class KerasModelError(ConvNetJSKerasError, ValueError):
    """A Keras model file cannot be loaded safely or is not usable."""


class DataError(ConvNetJSKerasError, ValueError):
    """Training or prediction data cannot be read or has the wrong shape."""


class OutputPathError(ConvNetJSKerasError, OSError):
    """An output path would overwrite an input or an existing file, or cannot be written."""
