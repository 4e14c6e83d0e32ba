import sys
from pathlib import Path

# Make helper modules in tests/ (such as convnetjs_node) importable in every
# pytest import mode, including --import-mode=importlib.
TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)
