"""Installed as a package, the app is whole: the wheel carries the icons, the style sheet, the
translations and the sample dataset (the repository's resources/ folder, mapped to
studio/resources), they load through importlib from a non-editable install, and a missing one is
reported (logged, listed, shown in a warning), never silently skipped.

The wheel is built from a copy of the sources with this interpreter's setuptools (no build
isolation, so no network) and installed with --no-deps into a fresh venv; the app's dependencies
(PySide6, …) come from this interpreter's site-packages through a plain path entry, which puts
them after the venv's own site-packages and runs none of their .pth files (so an editable install
of the studio there cannot shadow the wheel). The checks run in a subprocess whose working
directory is outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import time
import venv
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"


def _a_finished_translation() -> tuple[str, str, str]:
    """(context, source, translation) of a finished, non-plural message in the zh_CN .ts file."""
    root = ET.parse(RESOURCES / "translations" / "studio_zh_CN.ts").getroot()
    for context in root.iter("context"):
        name = context.findtext("name")
        for message in context.iter("message"):
            translation = message.find("translation")
            if (message.get("numerus") != "yes" and translation is not None
                    and translation.get("type") is None and (translation.text or "").strip()
                    and message.findtext("source") != translation.text):
                return name, message.findtext("source"), translation.text
    raise AssertionError("no finished translation in studio_zh_CN.ts")


def _quietly(command: list[str], cwd: Path) -> None:
    """Run a pip command; its output (setuptools' deprecation notices) only shows on failure."""
    result = subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}{result.stderr}"


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("studio", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    out = tmp / "dist"
    _quietly([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
              "--no-index", "--disable-pip-version-check", "-q", "-w", str(out)], cwd=tmp)
    (wheel,) = out.glob("local_llm_studio-*.whl")
    return wheel


CHECK = r"""
import json, logging, os, sys
from pathlib import Path

site_packages = Path(sys.argv[1]).resolve()
context, source, translation = json.loads(sys.argv[2])
report = {}

import studio
report["studio"] = studio.__file__
assert Path(studio.__file__).resolve().is_relative_to(site_packages), studio.__file__

import importlib.resources
from studio.core.resources import resources_dir, sample_dataset
assert resources_dir().resolve() == site_packages / "studio" / "resources", resources_dir()
assert importlib.resources.files("studio.resources").joinpath("styles").joinpath("studio.qss").is_file()
rows = [json.loads(line) for line in sample_dataset().read_text(encoding="utf-8").splitlines() if line.strip()]
assert rows and sample_dataset().resolve().is_relative_to(site_packages)
report["dataset_rows"] = len(rows)

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QMessageBox
app = QApplication([])
from studio.ui.i18n import install_translators
from studio.ui.resources import missing_resources
from studio.ui.theme import apply_theme, split_style_sheet, style_sheets

apply_theme(app)
qss = (site_packages / "studio" / "resources" / "styles" / "studio.qss").read_text(encoding="utf-8")
assert qss.strip() and style_sheets() and style_sheets() == split_style_sheet(qss)
assert not app.windowIcon().isNull() and not app.windowIcon().pixmap(32, 32).isNull()
translators = install_translators(app, "zh_CN")
assert translators
assert QCoreApplication.translate(context, source) == translation, QCoreApplication.translate(context, source)
assert missing_resources() == [], missing_resources()
for t in translators:
    app.removeTranslator(t)

# Take the style sheet and the translation away: both are reported, the app carries on.
logging.basicConfig()
for rel in ("styles/studio.qss", "translations/studio_zh_CN.qm"):
    path = site_packages / "studio" / "resources" / rel
    path.rename(path.with_name(path.name + ".gone"))
apply_theme(app)
install_translators(app, "zh_CN")
missing = [str(e) for e in missing_resources()]
report["missing"] = missing
assert len(missing) == 2 and "studio.qss" in missing[0] and "studio_zh_CN.qm" in missing[1], missing
assert all("reinstall" in m for m in missing), missing
app.processEvents()
boxes = [w for w in app.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
assert len(boxes) == 1 and "studio.qss" in boxes[0].informativeText(), boxes
print(json.dumps(report))
"""


def test_wheel_installs_whole_and_loads_its_resources(tmp_path):
    started = time.monotonic()
    wheel = _build_wheel(tmp_path)

    # Everything under resources/ and every module of studio/ is in the wheel.
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"studio/resources/{p.relative_to(RESOURCES).as_posix()}"
                for p in RESOURCES.rglob("*") if p.is_file()}
    expected |= {p.relative_to(REPO).as_posix() for p in (REPO / "studio").rglob("*.py")
                 if "__pycache__" not in p.parts}
    assert expected - names == set(), "missing from the wheel (add new packages to pyproject's " \
                                      "[tool.setuptools] packages)"
    for required in ("styles/studio.qss", "translations/studio_zh_CN.qm", "icons/local-llm-studio.svg",
                     "datasets/owl_persona.jsonl"):
        assert f"studio/resources/{required}" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    _quietly([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
              "--no-index", "--disable-pip-version-check", "-q", str(wheel)], cwd=tmp_path)
    venv_site = Path(subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, cwd=tmp_path).stdout.strip())
    assert (venv_site / "studio" / "resources" / "styles" / "studio.qss").is_file()
    assert not any(venv_site.glob("__editable__*")), "the wheel must install non-editable"

    # The dependencies: this interpreter's site-packages, as plain path entries (no .pth runs).
    deps = [p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"],
                                      sysconfig.get_paths()["platlib"]]) if Path(p).is_dir()]
    (venv_site / "zz_studio_test_deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STUDIO_RESOURCES")}
    env.update(QT_QPA_PLATFORM="offscreen", STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [str(python), "-I", "-c", CHECK, str(venv_site), json.dumps(_a_finished_translation())],
        check=False, cwd=outside, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["dataset_rows"] > 0
    assert "is missing from the installation" in result.stderr  # logged, not only shown
    print(f"wheel built, installed and checked in {time.monotonic() - started:.1f} s")
