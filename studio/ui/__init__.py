"""The PySide6 desktop UI: thin widgets over the Qt-free core (studio.core)."""
