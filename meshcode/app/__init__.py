"""The application layer: the workflows that combine the layers below (compile, commit, diff, lint,
canary tick). The CLI, the canary runner and the cdk8s integration call these; none of them
builds its own pipeline.
"""
