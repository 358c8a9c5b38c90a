"""The `meshcode` command line (`app`; the console script is `meshcode.entry:main`): parses, calls meshcode.app, prints."""
from meshcode.cli.main import (  # the shared app, first: command modules register on it
    RootOption,
    WorkloadsOption,
    app,
    disk_error,
    fail,
    print_notes,
    warn_namespaces,
)
from meshcode.cli import commands  # noqa: E402,F401  (every command module registers on `app`)

__all__ = ["RootOption", "WorkloadsOption", "app", "disk_error", "fail", "print_notes", "warn_namespaces"]
