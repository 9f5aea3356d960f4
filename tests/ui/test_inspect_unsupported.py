"""A model llama.cpp runs but transformers cannot load for torch works in every Inspect view: Tokens,
Next token, Attention and the logit lens all go through llama.cpp, and torch is never started.

The model is the starter rewritten as a "baichuan" GGUF (the same llama-shaped tensors under an
architecture llama.cpp knows and transformers' GGUF loader does not), so every path is real.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def write_renamed_gguf(source: Path, target: Path, architecture: str) -> Path:
    """Copy a llama GGUF under another architecture name: `llama.*` keys renamed, tensors as they
    are, plus an explicit output.weight (the starter ties it to the embeddings; baichuan needs it)."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    reader = GGUFReader(source)
    writer = GGUFWriter(target, architecture)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        name = architecture + field.name[len("llama"):] if field.name.startswith("llama.") else field.name
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            if field.types[-1] == GGUFValueType.STRING:
                values = [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data]
            else:
                values = [field.parts[i].tolist()[0] for i in field.data]
            writer.add_array(name, values)
        elif kind == GGUFValueType.STRING:
            writer.add_string(name, bytes(field.parts[field.data[0]]).decode("utf-8"))
        else:
            writer.add_key_value(name, field.parts[field.data[0]].tolist()[0], kind)
    names = {t.name for t in reader.tensors}
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
        if tensor.name == "token_embd.weight" and "output.weight" not in names:
            writer.add_tensor("output.weight", tensor.data, raw_shape=tensor.data.shape,
                              raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def own_ids(engine, prompt, run) -> list[int]:
    return run(engine.next_logits(prompt, top_k=1), timeout=30)["prompt_ids"]


@pytest.fixture(scope="module")
def baichuan_model(starter_model, tmp_path_factory) -> Path:
    return write_renamed_gguf(starter_model, tmp_path_factory.mktemp("arch") / "starter-as-baichuan.gguf",
                              "baichuan")


def test_every_view_works_through_llamacpp_where_torch_cannot_load_the_model(qtbot, run, baichuan_model,
                                                                             screenshot_dir):
    from studio.core.engine.client import EngineClient
    from studio.core.workspace import Workspace
    from studio.ui.inspect.view import InspectView

    engine = EngineClient()
    view = InspectView(Workspace(engine))
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    try:
        view.set_model(str(baichuan_model))
        assert view.model_path() == str(baichuan_model)
        run.until(lambda: view.model_facts.text().startswith("baichuan"), timeout=10)

        prompt = "法国的首都是巴黎。The capital of France is"
        view.tokens_view.editor.setPlainText(prompt)
        run.until(lambda: view.tokens_view.tokenized is not None and view.tokens_view.tokenized.n_tokens > 5,
                  timeout=30)

        view.sections.setCurrentWidget(view.next_view)  # the prompt follows; the analyser warms up
        assert view.next_view.editor.toPlainText().startswith("法国的首都是巴黎")
        assert view.next_view.chat_toggle.isChecked() is False
        assert run(view.next_view.refresh(), timeout=90) is True
        assert engine.model_info is not None and Path(engine.model_info.path) == baichuan_model
        # The bars are llama.cpp's own top tokens for this file, best first, at its probabilities.
        own = run(engine.next_logits(prompt, top_k=3), timeout=30)["tokens"]
        rows = view.next_view.bars.rows[:3]
        assert [r.id for r in rows] == [t["id"] for t in own]
        assert [r.base_prob for r in rows] == pytest.approx([math.exp(t["logprob"]) for t in own], abs=1e-4)
        assert rows[0].base_prob > rows[1].base_prob > rows[2].base_prob

        assert run(view.next_view.compute_lens(), timeout=120) is True, view.next_view.lens.note.text()
        lens = view.next_view.lens_result
        assert lens["backend"] == "llama.cpp" and len(lens["layer_names"]) == 31
        assert lens["top1"][-1][-1]["id"] == rows[0].id  # the lens's output row is the bars' top token
        assert view.next_view.bars.rows  # the bars are still there

        view.sections.setCurrentWidget(view.attention_view)
        assert run(view.attention_view.compute(), timeout=120) is True, view.attention_view.note.text()
        result = view.attention_view.result
        assert result.weights.shape[:2] == (30, 9) and result.n_tokens == len(own_ids(engine, prompt, run))
        assert view.analyser.pid is None  # torch was never needed
        view.grab().save(str(screenshot_dir / "inspect_unsupported_architecture.png"))
    finally:
        run(view.shutdown(), timeout=30)
        run(engine.close(), timeout=30)
