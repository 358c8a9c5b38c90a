"""The version, defined once: pyproject reads it (dynamic), the CLI, SARIF and caches print or key on it."""
__version__ = "0.1.0"
