"""Run the shell commands of the tutorial and the README, as a reader would.

Conventions in the Markdown files:

- In a ```console block, each line that starts with ``$ `` is a command; the
  other lines are sample output and are not checked. A command ending in a
  backslash continues on the next line.
- In a ```bash, ```sh or ```shell block, every line that is not blank and not
  a ``#`` comment is a command (a leading ``$ `` is removed).
- A fenced block whose info string contains ``file=NAME`` (```js
  file=cifar10_net.js) is written to NAME in the working folder, before the
  commands that follow it run.
- A command is not run when it ends with one of the comments in
  ``SKIP_COMMENTS``: ``# needs internet``, ``# long run`` or ``# runs until
  stopped``. Commands that install this package or run the test suite
  (``SETUP_PREFIXES``) are not run either, since this test runs after them.

The commands of a document run in order with bash, in one temporary folder.
It contains symbolic links to the repository's ``docs``, ``examples`` and
``node_modules`` folders, because the documents run their commands from the
repository root (none of them writes there). It also contains the input
files that the documents have the reader download (``FIXTURES``). Each
command must exit with status 0.

The Traditional Chinese documents must contain the same commands and file
blocks as their English originals, character for character, and the
Traditional Chinese README the same generated support table. Fast tests
check that, so their commands are run only once, through the English
document.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEMO_DATA = REPO_ROOT / "convnetjs_keras" / "demo_data"

SKIP_COMMENTS = ("# needs internet", "# long run", "# runs until stopped")
SETUP_PREFIXES = ("pip install", "bash scripts/test.sh")
LINKED_FOLDERS = ("docs", "examples", "node_modules")
COMMAND_TIMEOUT_S = 300

# English document -> its Traditional Chinese version.
TRANSLATIONS = {"docs/tutorial.md": "docs/tutorial.zh-TW.md", "README.md": "README.zh-TW.md"}

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing to do for a document: run ``text`` as a command, or write ``text`` to the file ``name``."""

    kind: str  # "command" or "file"
    text: str
    line: int
    name: str | None = None

    @property
    def skipped(self) -> bool:
        if self.kind != "command":
            return False
        return self.text.rstrip().endswith(SKIP_COMMENTS) or self.text.startswith(SETUP_PREFIXES)


def extract_steps(markdown: str) -> list[Step]:
    """Return the commands and file blocks of ``markdown``, in document order (see the module docstring)."""
    steps = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        start = index + 1
        index = start
        while index < len(lines) and not lines[index].startswith(fence[0] * len(fence)):
            index += 1
        body = lines[start:index]
        index += 1

        language = info.split()[0] if info else ""
        file_name = next((word[len("file="):] for word in info.split() if word.startswith("file=")), None)
        if file_name:
            steps.append(Step("file", "\n".join(body) + "\n", start, file_name))
        elif language == "console":
            steps += _console_commands(body, start)
        elif language in ("bash", "sh", "shell"):
            steps += [Step("command", line.strip().removeprefix("$ "), start + offset + 1)
                      for offset, line in enumerate(body) if line.strip() and not line.lstrip().startswith("#")]
    return steps


def _console_commands(body: list[str], first_line: int) -> list[Step]:
    commands = []
    offset = 0
    while offset < len(body):
        line = body[offset]
        if not line.startswith("$ "):
            offset += 1
            continue
        number = first_line + offset + 1
        text = line[2:]
        while text.endswith("\\") and offset + 1 < len(body):
            offset += 1
            text = text[:-1] + "\n" + body[offset]
        commands.append(Step("command", text, number))
        offset += 1
    return commands


# ---------------------------------------------------------------------------
# Fixtures: the files that a document has the reader download
# ---------------------------------------------------------------------------


def _tutorial_fixtures(folder: Path) -> None:
    # The tutorial downloads the ConvNetJS demo's pretrained network; the corpus has the same file.
    source = CORPUS / "karpathy_cifar10_conv.json"
    if not source.is_file():
        pytest.skip(f"the pretrained CIFAR-10 snapshot is not at {source}")
    shutil.copy(source, folder / "cifar10_snapshot.json")


def _readme_fixtures(folder: Path) -> None:
    # net.json and digits.npz: the bundled MNIST network (24x24x1) and 40 of its held-out digits.
    shutil.copy(DEMO_DATA / "mnist_demo_snapshot.json", folder / "net.json")
    with np.load(DEMO_DATA / "mnist_heldout.npz") as heldout:
        np.savez(folder / "digits.npz", x=heldout["x"][:40], y=heldout["y"][:40])
    from PIL import Image

    rows, columns = np.mgrid[0:40, 0:30]
    pixels = np.stack([rows * 6, columns * 8, (rows + columns) * 3], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "cat.png")


FIXTURES = {"docs/tutorial.md": _tutorial_fixtures, "README.md": _readme_fixtures}


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # `python` and `convnetjs-keras` are those of the interpreter running the tests.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ written into the linked repository folders
    return env


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_extract_steps_conventions():
    markdown = "\n".join([
        "Text.",
        "```js file=net.js",
        "layer_defs = [];",
        "```",
        "```console",
        "$ convnetjs-keras inspect net.js",
        "#   type  options",
        "$ curl -LO https://example.org/x.json  # needs internet",
        "$ echo one \\",
        "  two",
        "```",
        "```bash",
        "# a comment",
        "ls",
        "$ pip install .",
        "```",
        "```python",
        "print('not run')",
        "```",
    ])

    steps = extract_steps(markdown)

    assert [(step.kind, step.text, step.skipped) for step in steps] == [
        ("file", "layer_defs = [];\n", False),
        ("command", "convnetjs-keras inspect net.js", False),
        ("command", "curl -LO https://example.org/x.json  # needs internet", True),
        ("command", "echo one \n  two", False),
        ("command", "ls", False),
        ("command", "pip install .", True),
    ]
    assert steps[0].name == "net.js"
    assert steps[1].line == 6


@pytest.mark.parametrize("english", sorted(TRANSLATIONS), ids=lambda path: path)
def test_translation_has_same_commands(english):
    translated = REPO_ROOT / TRANSLATIONS[english]
    if not (REPO_ROOT / english).is_file():
        pytest.skip(f"{english} does not exist")
    assert translated.is_file(), f"{TRANSLATIONS[english]} is missing"

    original_steps = extract_steps((REPO_ROOT / english).read_text(encoding="utf-8"))
    translated_steps = extract_steps(translated.read_text(encoding="utf-8"))

    assert [(step.kind, step.name, step.text) for step in translated_steps] == \
        [(step.kind, step.name, step.text) for step in original_steps]


def test_readme_translation_support_table_current():
    # The table between the markers is generated into README.md; the Traditional Chinese README keeps a copy.
    start, end = "<!-- support-table:start -->", "<!-- support-table:end -->"
    tables = []
    for name in ("README.md", "README.zh-TW.md"):
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        tables.append(text[text.index(start):text.index(end)])

    assert tables[1] == tables[0], "copy the support table of README.md into README.zh-TW.md"


def test_tutorial_has_every_step():
    steps = extract_steps((REPO_ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8"))
    commands = " ".join(step.text for step in steps if step.kind == "command" and not step.skipped)

    for part in ("convnetjs-keras inspect", "convnetjs-keras train", "convnetjs-keras predict",
                 "convnetjs-keras visualize", "convnetjs-keras export", "examples/hyperparameters.py"):
        assert part in commands
    assert {step.name for step in steps if step.kind == "file"} >= {"cifar10_net.js", "cifar10_labels.txt"}


@pytest.mark.slow
@pytest.mark.parametrize("document", sorted(FIXTURES), ids=lambda path: path)
def test_document_commands_run(document, tmp_path):
    path = REPO_ROOT / document
    if not path.is_file():
        pytest.skip(f"{document} does not exist")
    steps = extract_steps(path.read_text(encoding="utf-8"))
    if any("node " in step.text for step in steps if step.kind == "command" and not step.skipped):
        if shutil.which("node") is None or not (REPO_ROOT / "node_modules" / "convnetjs").is_dir():
            pytest.skip("Node.js with node_modules/convnetjs (npm ci) is needed for the document's node command")

    for name in LINKED_FOLDERS:
        if (REPO_ROOT / name).exists():
            (tmp_path / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    FIXTURES[document](tmp_path)
    env = _environment()

    ran = 0
    for step in steps:
        if step.kind == "file":
            (tmp_path / step.name).write_text(step.text, encoding="utf-8")
            continue
        if step.skipped:
            continue
        result = subprocess.run(["bash", "-c", step.text], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT_S)
        assert result.returncode == 0, (
            f"{document}:{step.line}: `{step.text}` exited with status {result.returncode}\n"
            f"stdout:\n{_tail(result.stdout)}\nstderr:\n{_tail(result.stderr)}")
        ran += 1
    assert ran > 0
