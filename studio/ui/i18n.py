"""UI language: the compiled Qt translation (resources/translations/studio_<lang>.qm).

AppSettings.language is "" (follow the system), "en" or "zh_CN"; it is applied at start-up.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from studio.ui.resources import resource

LANGUAGES = {"": "System", "en": "English", "zh_CN": "简体中文"}


def effective_language(setting: str) -> str:
    """The language actually used for a setting ("" follows the system locale)."""
    if setting in ("en", "zh_CN"):
        return setting
    for name in QLocale.system().uiLanguages():
        name = name.replace("-", "_")
        if name.startswith("zh"):
            return "zh_CN"
        if name.startswith("en"):
            return "en"
    return "en"


def install_translators(app: QCoreApplication, setting: str) -> list[QTranslator]:
    """Install the studio (and Qt's own) translations; returns them so they stay alive."""
    language = effective_language(setting)
    installed: list[QTranslator] = []
    if language == "en":
        return installed
    ours = QTranslator(app)
    if ours.load(str(resource("translations", f"studio_{language}.qm"))):
        app.installTranslator(ours)
        installed.append(ours)
    qt_own = QTranslator(app)
    if qt_own.load(f"qtbase_{language}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_own)
        installed.append(qt_own)
    QLocale.setDefault(QLocale(language))
    return installed
