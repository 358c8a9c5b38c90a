"""Optional bridges to other tools; each needs its own extra (e.g. `pip install 'meshcode[cdk8s]'`).

Nothing in the core package imports from here, so the core never needs these extras.
"""
