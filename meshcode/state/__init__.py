"""Canary state: the data the compiler reads (weights of running canaries) and the controller writes.

Low-level and pure: pydantic models and small functions over them; imports nothing above `intent`.
"""
