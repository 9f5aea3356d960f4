"""Data only: the app's icons, style sheet, translations, sample dataset and desktop entry.

The wheel installs this folder as the package `studio.resources` (see `[tool.setuptools]` in
pyproject.toml); the app reads it through `studio.core.resources`, never by importing it.
"""
