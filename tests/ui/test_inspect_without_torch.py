"""The Inspect tab works for a GGUF file with torch unimportable: Attention, Next token, the logit lens
and Embeddings all come from llama.cpp or the GGUF itself.

A fresh Python runs the screen (offscreen, a qasync loop) with torch, transformers, peft,
safetensors.torch and accelerate made unimportable by a `sys.meta_path` finder, installed from a
sitecustomize.py on PYTHONPATH the way .ci/run blocks Qt for its core pass, so the engine worker the
screen starts is blocked too. Every blocked import attempt, in any of those processes, is logged;
the child prints a JSON summary that the test checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "transformers", "peft", "safetensors.torch", "accelerate")

BLOCKER = f'''
import os
import sys

_BLOCKED = {BLOCKED!r}
_LOG = os.environ.get("STUDIO_TEST_BLOCK_LOG")


class _TorchBlocker:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in _BLOCKED):
            if _LOG:
                with open(_LOG, "a", encoding="utf-8") as log:
                    probe = "probe" if os.environ.get("STUDIO_TEST_BLOCK_PROBE") else "import"
                    log.write(f"{{os.getpid()}} {{probe}} {{name}}\\n")
            raise ModuleNotFoundError(f"{{name}} is blocked: Inspect must work without torch", name=name)
        return None


sys.meta_path.insert(0, _TorchBlocker())
if _LOG:
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{{os.getpid()}} active {{sys.argv[0] or '-'}}\\n")
'''

CHILD = r'''
import asyncio
import json
import os
import sys
import time

model, prompt = sys.argv[1], sys.argv[2]
summary = {"blocked_in_child": []}
os.environ["STUDIO_TEST_BLOCK_PROBE"] = "1"  # the blocker logs these probes apart from real attempts
for name in ("torch", "transformers", "peft", "safetensors.torch", "accelerate"):
    try:
        __import__(name)
    except ImportError:
        summary["blocked_in_child"].append(name)
del os.environ["STUDIO_TEST_BLOCK_PROBE"]

from PySide6.QtWidgets import QApplication

app = QApplication([])
import qasync

from studio.core.engine.client import EngineClient
from studio.core.workspace import Workspace
from studio.ui.inspect.view import InspectView

loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)


async def step(name, coro, timeout=180):
    started = time.perf_counter()
    ok = await asyncio.wait_for(coro, timeout)
    summary.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 2)
    return ok


async def main():
    engine = EngineClient()
    view = InspectView(Workspace(engine))
    view.resize(1200, 800)
    view.show()
    try:
        view.set_model(model)
        summary["model"] = view.model_path()

        view.attention_view.editor.setPlainText(prompt)
        view.sections.setCurrentWidget(view.attention_view)
        ok = await step("attention", view.attention_view.compute())
        result = view.attention_view.result
        summary["attention"] = {"ok": ok, "note": view.attention_view.note.text(),
                                "shape": list(result.weights.shape) if result is not None else None,
                                "row_sum_error": float(abs(result.weights.sum(-1) - 1).max()) if result else None,
                                "labels": list(result.labels) if result is not None else None}

        view.sections.setCurrentWidget(view.next_view)  # the prompt follows, as it does for a user
        ok = await step("next", view.next_view.refresh())
        rows = view.next_view.bars.rows
        own = await engine.next_logits(view.next_view.editor.toPlainText(), top_k=3)
        summary["next"] = {"ok": ok, "note": view.next_view.note.text(), "carried": view.next_view.editor.toPlainText(),
                           "ids": [r.id for r in rows[:3]], "probs": [r.base_prob for r in rows[:3]],
                           "engine_ids": [t["id"] for t in own["tokens"]]}

        ok = await step("lens", view.next_view.compute_lens())
        lens = view.next_view.lens_result or {}
        summary["lens"] = {"ok": ok, "note": view.next_view.lens.note.text(), "backend": lens.get("backend"),
                           "entries": len(lens.get("layer_names", [])), "rows": len(lens.get("top1", [])),
                           "top1_last": lens["top1"][-1][-1]["id"] if lens.get("top1") else None}

        view.sections.setCurrentWidget(view.embeddings_view)
        await step("embeddings", view.embeddings_view.neighbours_of("cat"))
        emb = view.embeddings_view.embeddings
        summary["embeddings"] = {"shape": list(emb.shape) if emb is not None else None,
                                 "neighbours": view.embeddings_view.neighbours.topLevelItemCount(),
                                 "banner": view.embeddings_view.banner.label.text()}
        summary["analyser_started"] = view.analyser.pid is not None
    finally:
        await asyncio.wait_for(view.shutdown(), 60)
        await asyncio.wait_for(engine.close(), 60)
    summary["heavy_modules"] = sorted(m for m in ("torch", "transformers", "peft", "safetensors.torch", "accelerate")
                                      if m in sys.modules)
    summary["torch_in_modules"] = "torch" in sys.modules


with loop:  # closing the loop stops its executor's threads, as the app does on quit
    loop.run_until_complete(main())
print("SUMMARY " + json.dumps(summary))
'''


def test_inspect_works_with_torch_unimportable(tmp_path, starter_model):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "blocked-imports.log"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH", "")) if p),
           "STUDIO_TEST_BLOCK_LOG": str(log), "PYTHONUNBUFFERED": "1"}
    prompt = "The capital of France is Paris. The capital of Italy is"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(starter_model), prompt], cwd=REPO, env=env,
                          check=False, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SUMMARY ")), None)
    assert line is not None, (proc.stdout[-3000:], proc.stderr[-3000:])
    summary = json.loads(line[len("SUMMARY "):])
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    attempts = sorted({ln.split(" ", 2)[2] for ln in lines if ln.split(" ", 2)[1] == "import"})
    blocked_pids = {ln.split(" ", 1)[0] for ln in lines if ln.split(" ", 2)[1] == "active"}
    print(f"\nInspect without torch: {seconds:.1f} s in all; steps {summary.get('seconds')}; "
          f"processes with the block: {len(blocked_pids)}; "
          f"blocked imports beyond the child's own probes: {attempts or 'none'}")

    # the block was real in the child, and in the engine worker it started (PYTHONPATH is inherited)
    assert summary["blocked_in_child"] == list(BLOCKED)
    assert len(blocked_pids) >= 2, lines
    assert Path(summary["model"]).resolve() == Path(starter_model).resolve()

    attention = summary["attention"]
    assert attention["ok"] is True, attention["note"]
    n = len(attention["labels"])
    assert attention["shape"] == [30, 9, n, n] and n > 10
    assert attention["row_sum_error"] < 1e-3

    nxt = summary["next"]
    assert nxt["ok"] is True, nxt["note"]
    assert nxt["carried"] == prompt
    assert nxt["ids"] == nxt["engine_ids"] and len(nxt["ids"]) == 3  # llama.cpp's own top tokens
    assert nxt["probs"][0] > nxt["probs"][1] > nxt["probs"][2] > 0

    lens = summary["lens"]
    assert lens["ok"] is True, lens["note"]
    assert lens["backend"] == "llama.cpp" and lens["entries"] == lens["rows"] == 31
    assert lens["top1_last"] == nxt["ids"][0]

    embeddings = summary["embeddings"]
    assert embeddings["shape"] == [49152, 576], embeddings
    assert embeddings["neighbours"] > 0, embeddings

    assert summary["analyser_started"] is False
    assert summary["heavy_modules"] == [] and summary["torch_in_modules"] is False
