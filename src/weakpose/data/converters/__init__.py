"""Converters from original dataset files to weakpose's npz files (docs/data.md)."""
