"""Imports every command module so each registers its commands on the shared typer app."""
# One line per command module; keep sorted.
