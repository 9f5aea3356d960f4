"""Qt-free core of the studio: engines, chat, models, datasets, training, inspection.

Nothing under this package may import PySide6, qasync or studio.ui (tests/core/test_architecture.py).
"""
