"""Conversations: data model, sampling presets, the SQLite store and the chat session controller."""
