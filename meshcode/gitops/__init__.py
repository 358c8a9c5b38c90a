"""Getting output onto disk and into git: atomic tree writes, ownership, diffs, commits."""
