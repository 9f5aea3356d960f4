"""Shared widgets of the studio UI."""
