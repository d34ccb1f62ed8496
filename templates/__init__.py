"""Jinja2 templates of ionc's kernels (package data, loaded with importlib.resources)."""
