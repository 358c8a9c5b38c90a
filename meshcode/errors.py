"""Typed errors and findings, each carrying the source location of the intent behind it.

Users read these first when something is wrong, so every one names a file and line they own.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

Level = Literal["error", "warning", "info"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent)
_SKIP_PREFIXES = (_PACKAGE_DIR, "<frozen", "<string>")
_SKIP_PARTS = ("/pydantic/", "/pydantic_core/", "/typing.py", "/functools.py", "/importlib/")


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where an intent object was written: a user's stack file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def relative_to(self, root: Path) -> "SourceLocation":
        try:
            return SourceLocation(str(Path(self.file).resolve().relative_to(root.resolve())), self.line)
        except ValueError:
            return self


def portable_path(path: str, root: str) -> str:
    """A source file as it may be written into output: relative to the project root, never absolute.

    A file outside the project (a helper module installed or on sys.path) is named as Python
    imports it, relative to its sys.path entry (else by its file name): a machine path such as
    /home/alice/lib/helpers.py must never reach generated objects, reports or commits.
    """
    if not os.path.isabs(path):
        return path.replace(os.sep, "/")
    rel = os.path.relpath(path, root)
    if not rel.startswith(".."):
        return rel.replace(os.sep, "/")
    best = None
    for entry in sys.path:
        base = os.path.abspath(entry or ".") + os.sep
        if path.startswith(base) and (best is None or len(path) - len(base) < len(best)):
            best = path[len(base):]
    return (best or os.path.basename(path)).replace(os.sep, "/")


_INTERNAL: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    internal = _INTERNAL.get(filename)
    if internal is None:
        internal = _INTERNAL[filename] = filename.startswith(_SKIP_PREFIXES) or any(
            p in filename for p in _SKIP_PARTS)
    return internal


def caller_location() -> SourceLocation | None:
    """The first stack frame outside meshcode and pydantic: the line that built the object."""
    frame = sys._getframe(1)
    known = _INTERNAL  # inlined lookup: this runs for every intent object a stack builds
    while frame is not None:
        filename = frame.f_code.co_filename
        internal = known.get(filename)
        if internal is None:
            internal = _is_internal(filename)
        if not internal:
            return SourceLocation(filename, frame.f_lineno)
        frame = frame.f_back
    return None


MAX_LISTED = 10
"""How many objects, hosts or ports one message names before it says "and N more"."""


def listing(items: Iterable[str], sep: str = ", ", limit: int = MAX_LISTED, total: int | None = None) -> str:
    """At most `limit` items, then how many more: a message naming every one of thousands of
    conflicting objects would make the findings grow with the square of the input. With `total`,
    `items` are only the first ones (at least `limit`, or all) of that many: a caller naming a
    few of n objects in each of n findings need not build n lists of n."""
    items = list(items)
    count = len(items) if total is None else total
    shown = sep.join(items[:limit])
    return shown if count <= limit else f"{shown} and {count - limit} more"


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of a check: a code users can look up, and where it came from."""

    code: str
    level: Level
    message: str
    kind: str = ""
    namespace: str = ""
    name: str = ""
    location: SourceLocation | None = None
    cluster: str = ""

    def describe(self) -> str:
        where = f"{self.location}: " if self.location else ""
        obj = f" {self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}" if self.kind else ""
        in_cluster = f" [{self.cluster}]" if self.cluster else ""
        return f"{where}{self.level} {self.code}{obj}{in_cluster}: {self.message}"

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file if loc else "", loc.line if loc else 0, self.cluster, self.code,
                self.kind, self.namespace, self.name, self.message)


class MeshcodeError(Exception):
    """Base of every error meshcode raises on purpose; the CLI turns it into exit code 1."""

    code = "MC0000"

    def __init__(self, message: str, location: SourceLocation | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        if code:
            self.code = code

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}error {self.code}: {self.message}"


class IntentError(MeshcodeError):
    """An intent object was built with invalid values (raised while the stack runs)."""

    code = "MC1000"


class StackError(MeshcodeError):
    """A stack file could not be loaded (syntax error, exception, nothing defined)."""

    code = "MC1001"


class CompileError(MeshcodeError):
    """The intent is well-formed but inconsistent; carries every error finding at once."""

    code = "MC2000"

    def __init__(self, findings: list[Finding]):
        self.findings = sorted(findings, key=Finding.sort_key)
        first = self.findings[0] if self.findings else None
        super().__init__(
            "\n".join(f.describe() for f in self.findings) or "compile failed",
            first.location if first else None,
        )

    def __str__(self) -> str:
        return self.message


class StateError(MeshcodeError):
    """Canary state or the working tree is not in a state this command can act on."""

    code = "MC3000"


# -- the I/O edges (every error class lives here: one hierarchy; codes in meshcode/codes.py) ----


class LockedError(MeshcodeError):
    """Another meshcode command holds the lock; the second one says so instead of interleaving."""

    code = "MC4002"


class HandEditError(MeshcodeError):
    """A generated file differs from what meshcode wrote: committing would bury someone's edit."""

    code = "MC4003"


class GitError(MeshcodeError):
    """The project is not in a git repository, or git refused an operation."""

    code = "MC4004"


class DirtyInputError(MeshcodeError):
    """A file the stacks read, outside the stacks folder, has uncommitted changes."""

    code = "MC4007"


class OwnershipError(MeshcodeError):
    """meshcode would have to overwrite or delete a file it did not write."""

    code = "MC4001"


class UnsafePathError(MeshcodeError):
    """A path would leave the output folder (or pass through a link out of it)."""

    code = "MC4005"


class WriteError(MeshcodeError):
    """The disk refused the write (full, read-only, a mount point); the old tree is untouched."""

    code = "MC4006"


class WorkloadsError(MeshcodeError):
    """The workload manifests could not be read."""

    code = "MC6000"


class MeshConfigError(MeshcodeError):
    """A --mesh-config file that holds no mesh config."""

    code = "MC5005"


class MachinePathError(MeshcodeError):
    """Generated output would name a folder of this machine (it is committed and synced elsewhere)."""

    code = "MC4008"


class CredentialError(MeshcodeError):
    """Prometheus credentials given in a form meshcode refuses (a secret in a URL that is recorded)."""

    code = "MC3001"
