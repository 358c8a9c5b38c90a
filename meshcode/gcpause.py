"""Pause Python's cycle collector around the big allocating phases (compile, render, lint loading).

A compile or a lint allocates hundreds of thousands of small containers that live until the
phase ends; each generation-2 collection walks all of them, so the collector cost 27-35% of a
fleet compile and grew faster than linear. Nothing in those phases builds reference cycles at
scale (the YAML loader was the exception: see safeyaml._Converter), so reference counting frees
what dies and the collector has nothing to find meanwhile; it runs again when the phase ends.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block (nested blocks are fine); the previous state after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
