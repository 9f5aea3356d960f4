"""The Simplified Chinese translation covers every user-visible string, and the .qm is current."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

PLACEHOLDER = re.compile(r"\{\w+\}|%[pvm]")
REPO = Path(__file__).resolve().parents[2]
TS = REPO / "resources" / "translations" / "studio_zh_CN.ts"
QM = REPO / "resources" / "translations" / "studio_zh_CN.qm"


def _tool(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        # PySide6-Essentials ships the Qt linguist tools, so CI always has them: missing there is a failure.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{name} is not installed (it comes with PySide6-Essentials)")
        pytest.skip(f"{name} is not installed")
    return found


def _messages(path: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(path).getroot()
    return {(context.findtext("name"), message.findtext("source")): message.find("translation")
            for context in root.iter("context") for message in context.iter("message")}


def test_every_ui_string_is_translated(tmp_path):
    fresh = tmp_path / "fresh.ts"
    sources = sorted(str(p) for p in (REPO / "studio" / "ui").rglob("*.py"))
    subprocess.run([_tool("pyside6-lupdate"), *sources, "-no-obsolete", "-locations", "none", "-ts", str(fresh)],
                   check=True, capture_output=True)
    wanted = set(_messages(fresh))
    have = _messages(TS)
    missing = sorted(wanted - set(have))
    assert not missing, f"strings missing from {TS.name}: {missing[:10]}"
    unfinished = sorted(key for key in wanted if have[key].get("type") == "unfinished" or not have[key].text)
    assert not unfinished, f"untranslated: {unfinished[:10]}"
    broken = [key for key in wanted
              if sorted(PLACEHOLDER.findall(key[1])) != sorted(PLACEHOLDER.findall(have[key].text))]
    assert not broken, f"placeholders differ: {broken[:10]}"


def test_compiled_translation_is_current(tmp_path):
    out = tmp_path / "check.qm"
    subprocess.run([_tool("pyside6-lrelease"), str(TS), "-qm", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == QM.read_bytes(), "run pyside6-lrelease (see resources/translations/README.md)"


def test_fine_tune_config_problems_read_in_chinese(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    from studio.core.training.config import RunConfig
    from studio.ui.finetune.config_panel import ConfigPanel
    from studio.ui.i18n import install_translators

    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    try:
        panel = ConfigPanel()
        qtbot.addWidget(panel)
        panel.show_problems(RunConfig().validate())
        assert panel.problems.text() == ("• 请选择基础模型（一个 .gguf 文件或 Hugging Face 模型文件夹）。\n"
                                         "• 请至少添加一个训练数据文件。")
        missing = RunConfig(base_model="starter.gguf", data=[str(tmp_path / "gone.jsonl")]).validate()
        panel.show_problems(missing)
        assert f"训练数据文件 {tmp_path / 'gone.jsonl'} 不存在。" in panel.problems.text()
        # A problem the screen has no words for stays as the core wrote it, never blank.
        panel.show_problems(RunConfig(base_model="x.gguf", data=["d.jsonl"], batch_size=0).validate(check_files=False))
        assert "Batch size must be at least 1" in panel.problems.text()
    finally:
        for translator in translators:
            app.removeTranslator(translator)


def test_dataset_verdict_reads_in_chinese(qtbot, tmp_path):
    import json

    from PySide6.QtWidgets import QApplication

    from studio.core.datasets import scan_dataset
    from studio.ui.finetune.data_panel import DataPanel
    from studio.ui.i18n import install_translators

    good = tmp_path / "chat.jsonl"
    records = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
               for i in range(20)]
    good.write_text("".join(json.dumps(r) + "\n" for r in records) + "{broken\n", encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    usable = scan_dataset([good]).to_dict()
    broken = scan_dataset([empty]).to_dict()
    assert usable["verdict"].startswith("Usable: 20 examples") and usable["verdict_code"] == "usable"
    app = QApplication.instance()
    translators = install_translators(app, "zh_CN")
    try:
        panel = DataPanel(client=None)
        qtbot.addWidget(panel)
        assert panel._say_verdict(usable) == ("可用：20 个样本（18 个用于训练，2 个用于验证）；"
                                              "1 条有问题的记录将被跳过。")
        assert panel._say_verdict(broken).startswith("不可用：empty.jsonl")
        # A report without a code (an older scanner) keeps the core's sentence rather than showing nothing.
        assert panel._say_verdict({"verdict": "Usable: 3 examples."}) == "Usable: 3 examples."
    finally:
        for translator in translators:
            app.removeTranslator(translator)
