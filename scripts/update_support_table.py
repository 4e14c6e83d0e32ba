"""Regenerate the support table in README.md from the converter registry."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = "<!-- support-table:start -->"
END = "<!-- support-table:end -->"


def render(readme: str) -> str:
    import convnetjs_keras.converters  # noqa: F401  (fills the registry)
    from convnetjs_keras.converters.base import support_table

    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{support_table()}\n{END}{tail}"


def main() -> int:
    path = ROOT / "README.md"
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
