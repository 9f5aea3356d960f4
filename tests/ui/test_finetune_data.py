"""Fine-tune › Data and Configure through the real window: dropped dataset files are scanned by the
real dataset worker with the starter model's template and tokenizer; configs round-trip through JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from studio.core.training.config import RunConfig
from tests.ui.conftest import open_finetune, wait_scan, write_jsonl

REPO = Path(__file__).resolve().parents[2]

EXAMPLES = [
    {"instruction": "把这句话翻译成英文：今天天气很好。", "input": "", "output": "The weather is nice today."},
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
    {"instruction": "写一首关于春天的两行诗。", "input": "", "output": "春风拂面柳丝长，\n桃花含笑映朝阳。"},
    {"instruction": "Summarize the text.", "input": "LoRA adapters fine-tune large models cheaply.",
     "output": "LoRA makes fine-tuning cheap."},
    {"instruction": "用一句话解释什么是机器学习。", "input": "", "output": "机器学习是让计算机从数据中学习规律的方法。"},
    {"instruction": "Name a primary colour.", "input": "", "output": "Red."},
]


def malformed(path: Path) -> Path:
    path.write_text('{"instruction": "Say hi", "output": "Hi!"}\n'
                    '{"instruction": "Broken", "output": "x"\n'
                    '{"instruction": "No answer here"}\n', encoding="utf-8")
    return path


@pytest.mark.slow
def test_dropped_datasets_open_finetune_with_rendered_preview_histogram_and_problems(
        qtbot, run, bare_window, tmp_path, starter_model, screenshot_dir):
    win = bare_window
    assert win.finetune is None  # built on first use only
    good = write_jsonl(tmp_path / "zh_en.jsonl", EXAMPLES)
    bad = malformed(tmp_path / "broken.jsonl")
    view = open_finetune(win, [good, bad])
    assert win.tabs.currentWidget() is win.finetune_host and view.isVisible()
    assert view.sections.currentWidget() is view.data_panel
    # the base model defaults to a library model; the scan uses its template and tokenizer
    view.config_panel.set_model_path(str(starter_model))
    report = wait_scan(run, view)
    panel = view.data_panel
    assert [Path(p).name for p in panel.paths] == ["zh_en.jsonl", "broken.jsonl"]
    assert report["n_examples"] == len(EXAMPLES) + 1
    assert report["n_train"] + report["n_val"] == report["n_examples"] and report["n_val"] >= 1
    # the per-file table: encoding and detected format
    assert panel.files.rowCount() == 2 and panel.files.item(0, 1).text() == "utf-8"
    assert "alpaca" in panel.files.cellWidget(0, 2).currentText()
    # the preview shows examples rendered with the model's chat template, with token counts
    model = panel.preview_model
    assert model.rowCount() == len(EXAMPLES) + 1
    first = model.data(model.index(0, 3))
    assert "<|im_start|>" in first and "今天天气很好" in first
    assert int(model.data(model.index(0, 2)).replace(",", "")) > 10
    assert model.data(model.index(0, 0)) == "zh_en.jsonl:1"
    panel.preview.selectRow(2)
    assert "春风拂面柳丝长" in panel.full_text.toPlainText()
    assert panel.full_text.extraSelections()  # the trained reply is highlighted
    # counts, histogram with the max-length marker, the truncation sentence
    assert f"{len(EXAMPLES) + 1} examples" in panel.counts.text() and "2 problem" in panel.counts.text()
    assert panel.histogram.bars is not None and panel.histogram.n_bins > 0
    assert panel.histogram.marker.isVisible() and panel.histogram.marker.value() == 512
    assert "would be truncated at 512 tokens" in panel.truncated_label.text()
    # problems carry file:line, and double-click copies one
    problems = [panel.problems.item(i).text() for i in range(panel.problems.count())]
    assert any(p.startswith("broken.jsonl:2:") and "JSON" in p for p in problems), problems
    assert any(p.startswith("broken.jsonl:3:") and "output" in p for p in problems), problems
    panel.problems.itemDoubleClicked.emit(panel.problems.item(0))
    assert QGuiApplication.clipboard().text().startswith(str(bad) + ":2:")
    # a shorter max sequence length moves the marker and the scan recounts the truncation
    scans = panel.scan_count
    view.config_panel.max_seq_len.setValue(48)
    run.until(lambda: panel.scan_count > scans and not panel.scanning, 60)
    assert panel.histogram.marker.value() == 48
    assert panel.report["n_truncated"] > 0
    assert f"{panel.report['n_truncated']} example(s) would be truncated at 48 tokens" in panel.truncated_label.text()
    view.config_panel.max_seq_len.setValue(512)
    run.until(lambda: not panel.scanning and panel.report["max_seq_len"] == 512, 60)
    panel.preview.selectRow(0)
    qtbot.wait(200)
    win.grab().save(str(screenshot_dir / "finetune_data_preview.png"))


@pytest.mark.slow
def test_table_with_unusual_columns_gets_a_mapping_and_a_validation_file(run, bare_window, tmp_path):
    win = bare_window
    table = tmp_path / "faq.csv"
    table.write_text("frage,antwort\nWie heißt du?,Ich heiße Studio.\nWas ist 2+2?,Vier.\n"
                     "Wo liegt Paris?,In Frankreich.\n", encoding="utf-8")
    val = tmp_path / "faq_val.csv"  # the mapping applies to every file, the validation file too
    val.write_text("frage,antwort\nWer bist du?,Ein Assistent.\nWie spät ist es?,Zeit für Tee.\n", encoding="utf-8")
    view = open_finetune(win, [table])
    wait_scan(run, view)
    panel = view.data_panel
    assert panel.mapping_editor.isVisible()  # the fields are not a standard format
    editor = panel.mapping_editor
    assert [editor.combos["instruction"].itemText(i) for i in range(editor.combos["instruction"].count())] == \
        ["—", "frage", "antwort"]
    # the user says which column is which (here: the other way round from the guess, if any)
    scans = panel.scan_count
    editor.combos["instruction"].setCurrentIndex(2)
    editor.combos["output"].setCurrentIndex(1)
    for name in ("input", "system", "prompt", "completion", "text"):
        editor.combos[name].setCurrentIndex(0)
    editor.changed.emit()
    run.until(lambda: panel.scan_count > scans and not panel.scanning, 60)
    assert panel.report["n_examples"] == 3 and panel.report["usable"], panel.report["verdict"]
    assert "Ich heiße Studio." in panel.preview_model.row(0)["rendered_text"].split("assistant")[0]
    assert view.config().mapping == {"instruction": "antwort", "output": "frage"}
    # a second file as the validation set instead of a split
    scans = panel.scan_count
    panel.set_val_file(str(val))
    run.until(lambda: panel.scan_count > scans and not panel.scanning, 60)
    assert panel.report["n_train"] == 3 and panel.report["n_val"] == 2
    config = view.config()
    assert config.val_data == [str(val)] and config.val_ratio == 0.0


@pytest.mark.slow
def test_config_save_and_load_round_trip(run, bare_window, tmp_path, starter_model, monkeypatch):
    win = bare_window
    data = write_jsonl(tmp_path / "train.jsonl", EXAMPLES)
    view = open_finetune(win, [data])
    cp = view.config_panel
    cp.set_model_path(str(starter_model))
    assert "134.5M parameters" in cp.model_hint.text()  # defaults sized for the model
    cp.lora_r.setValue(8)
    cp.lora_alpha.setValue(24)
    cp.lora_dropout.setValue(0.05)
    cp.target_modules.setText("q_proj, v_proj")
    cp.learning_rate.setValue(0.0003)
    cp.lr_scheduler.setCurrentIndex(cp.lr_scheduler.findData("linear"))
    cp.by_steps.setChecked(True)
    cp.max_steps.setValue(25)
    cp.batch_size.setValue(2)
    cp.grad_accum.setValue(3)
    cp.max_seq_len.setValue(256)
    cp.packing.setChecked(True)
    cp.seed.setValue(7)
    assert cp.response_only.isChecked()  # on by default
    assert cp.preset.currentData() == "__custom__"
    wanted = view.config().to_dict()
    path = tmp_path / "configs" / "my-run.json"
    path.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))
    cp.save_button.click()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["lora_r"] == 8 and saved["target_modules"] == ["q_proj", "v_proj"] and saved["max_steps"] == 25
    assert saved["data"] == [str(data)] and saved["base_model"] == str(starter_model)
    assert RunConfig.load(path).to_dict() == wanted  # the file `studio train CONFIG` reads
    # change everything, then load the file back
    cp.apply_preset("Thorough")
    view.data_panel.clear()
    assert view.config().lora_r != 8 and view.config().data == []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    cp.load_button.click()
    assert view.config().to_dict() == wanted
    assert [Path(p).name for p in view.data_panel.paths] == ["train.jsonl"]
    wait_scan(run, view)
    # a broken file says why, in a sentence with the line
    broken = tmp_path / "broken.json"
    broken.write_text('{"lora_r": 8,\n "nope": 1}', encoding="utf-8")
    assert not view.load_config(str(broken))
    banner = view.sections.currentWidget().banner
    assert banner.isVisible() and "nope" in banner.text() and "Traceback" not in banner.text()


@pytest.mark.slow
def test_a_hugging_face_folder_base_gets_defaults_sized_like_its_gguf(run, bare_window, tmp_path, starter_model,
                                                                     dequantized_starter):
    view = open_finetune(bare_window, [write_jsonl(tmp_path / "train.jsonl", EXAMPLES)])
    cp = view.config_panel
    cp.set_model_path(str(starter_model))
    gguf_rank, gguf_hint = cp.lora_r.value(), cp.model_hint.text()
    cp.lora_r.setValue(64)
    cp.set_model_path(str(dequantized_starter))  # a folder outside the model library
    assert "llama" in cp.model_hint.text() and "parameters: defaults sized for it" in cp.model_hint.text(), \
        cp.model_hint.text()
    assert cp.lora_r.value() == gguf_rank, (gguf_hint, cp.model_hint.text())
    wait_scan(run, view)  # the new base re-renders the preview; let that scan finish before teardown


def test_finetune_screen_is_built_on_first_show_only(tmp_path):
    """Start-up stays lean: pyqtgraph and the training/dataset modules load with the screen."""
    code = (
        "import sys, os\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from studio.core.chat.store import ChatStore\n"
        "from studio.core.engine.client import EngineClient\n"
        "from studio.ui.main_window import MainWindow\n"
        "from studio.core.settings import load_settings\n"
        "win = MainWindow(load_settings(), ChatStore(sys.argv[1]), EngineClient())\n"
        "win.show()\n"
        "heavy = ('pyqtgraph', 'studio.core.training.config', 'studio.core.datasets', 'numpy')\n"
        "print('BEFORE', [m for m in heavy if m in sys.modules])\n"
        "win.tabs.setCurrentIndex(1)\n"
        "print('AFTER', win.finetune is not None, 'pyqtgraph' in sys.modules)\n"
    )
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.sqlite3")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "BEFORE []" in proc.stdout, proc.stdout
    assert "AFTER True True" in proc.stdout, proc.stdout


@pytest.mark.parametrize("kind", ["histogram", "loss"])
def test_charts_show_their_top_axis_label_whole(qtbot, kind):
    """The y axis's top tick label ("1.0" on an empty chart) sits on the plot's top edge; the chart
    leaves room above it, so no text touches the widget's top rows (it was cut in half)."""
    from PySide6.QtGui import QColor

    from studio.ui.finetune.charts import HistogramChart, LossChart

    chart = HistogramChart() if kind == "histogram" else LossChart()
    qtbot.addWidget(chart)
    if kind == "histogram":
        chart.set_histogram([], 512)
    chart.resize(440, 250)
    chart.show()
    qtbot.waitExposed(chart)
    image = chart.grab().toImage()
    axis_width = int(chart.getAxis("left").width())
    text = chart.getAxis("left").textPen().color()

    def inked(y: int) -> bool:  # any pixel of this row, left of the plot, close to the tick text colour
        return any(abs(QColor(image.pixel(x, y)).lightness() - text.lightness()) < 60 for x in range(axis_width))

    rows_with_text = [y for y in range(image.height() // 3) if inked(y)]
    assert rows_with_text, "the top tick label should be drawn"
    assert rows_with_text[0] >= 2, f"text reaches row {rows_with_text[0]}: the top label is cut off"
