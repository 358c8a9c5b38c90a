"""Plan → files: deterministic YAML, one file per resource, a kustomization per folder."""
from meshcode.render.tree import render_tree, resource_path, dump_yaml

__all__ = ["render_tree", "resource_path", "dump_yaml"]
