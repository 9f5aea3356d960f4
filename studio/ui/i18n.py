"""UI language: the compiled Qt translation (resources/translations/studio_<lang>.qm, shipped in
the wheel as studio/resources/translations; a missing one is reported, and the UI stays in English).

AppSettings.language is "" (follow the system), "en" or "zh_CN"; it is applied at start-up.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from studio.ui.resources import MissingResource, report_missing, require_resource

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
    what = f"the {LANGUAGES.get(language, language)} translation"
    try:
        qm = require_resource("translations", f"studio_{language}.qm", what=what)
    except MissingResource as error:
        report_missing(error)  # the UI stays in English, and says why
    else:
        if ours.load(str(qm)):
            app.installTranslator(ours)
            installed.append(ours)
        else:
            report_missing(MissingResource(qm, what, "Qt cannot read it"))
    qt_own = QTranslator(app)
    if qt_own.load(f"qtbase_{language}", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt_own)
        installed.append(qt_own)
    QLocale.setDefault(QLocale(language))
    return installed
