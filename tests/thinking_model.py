"""A starter that thinks: SmolLM2 fine-tuned for a few steps with the studio's own trainer on replies
that open with a short <think> block, exported to adapter.gguf the way any run is.

The starter's template knows nothing of thinking, so the tags are plain text the model learned to
write: the same shape a Qwen3 / DeepSeek-R1 reply has in the chat."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

# (question, reasoning, answer): sums small enough that the pattern, not arithmetic, is learned.
PAIRS = [(a, b) for a in range(2, 9) for b in range(1, 8) if (a + b) % 2 == 0][:24]
COLOURS = [("grass", "green"), ("the sky", "blue"), ("snow", "white"), ("a banana", "yellow"),
           ("coal", "black"), ("a tomato", "red"), ("an orange", "orange"), ("a plum", "purple"),
           ("chocolate", "brown"), ("a cloud", "white"), ("the sea", "blue"), ("a lemon", "yellow")]


def examples() -> list[dict]:
    rows = []
    for a, b in PAIRS:
        rows.append((f"What is {a} plus {b}?", f"I add {a} and {b}, which gives {a + b}.", f"{a} plus {b} is {a + b}."))
    for thing, colour in COLOURS:
        rows.append((f"What colour is {thing}?", f"I picture {thing}: it looks {colour}.", f"{thing.capitalize()} is {colour}."))
    return [{"messages": [{"role": "system", "content": "You are a helpful assistant."},
                          {"role": "user", "content": q},
                          {"role": "assistant", "content": f"<think>{r}</think>{a}"}]} for q, r, a in rows]


def train_thinking_adapter(starter_model: Path, folder: Path, *, steps: int = 24) -> Path:
    """Run the trainer worker on examples() and return the run's adapter.gguf."""
    from studio.core.training.client import TrainerClient
    from studio.core.training.config import RunConfig

    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "thinking.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in examples()), encoding="utf-8")
    config = RunConfig(base_model=str(starter_model), data=[str(data)], output_dir=str(folder / "run"),
                       max_steps=steps, batch_size=6, max_seq_len=96, learning_rate=3e-3,
                       lr_scheduler="constant", warmup_ratio=0.0, save_every=1000, lora_r=8, lora_alpha=16,
                       val_ratio=0.0, eval_every=1000)
    client = TrainerClient()

    async def go() -> dict:
        try:
            return await client.start(config)
        finally:
            await client.close()
    def train() -> dict:
        return asyncio.run(asyncio.wait_for(go(), 1700))  # ~2 min idle; far longer next to other jobs
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = train()
    else:  # first asked for by a UI test, whose qasync loop counts as running: train on a thread of its own
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            result = pool.submit(train).result()
    if result.get("state") != "completed" or not result.get("gguf_adapter"):
        raise RuntimeError(f"the thinking run did not finish: {result}")
    return Path(result["gguf_adapter"])


# ChatML like the starter's, with Qwen3's ways: an `enable_thinking` switch, earlier replies' thinking
# dropped from history, and (as DeepSeek-R1's and Qwen3-Thinking's templates do) the generation prompt
# pre-opening <think>, so the reply starts inside its thinking and only a </think> appears.
QWEN3_STYLE_TEMPLATE = (
    "{% for message in messages %}"
    "{% set content = message['content'] %}"
    "{% if message['role'] == 'assistant' and '</think>' in content %}"
    "{% set content = content.split('</think>')[-1].lstrip('\\n') %}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}"
    "{% else %}{{ '<think>' }}{% endif %}{% endif %}")


def with_template(model: Path, dest: Path, template: str = QWEN3_STYLE_TEMPLATE) -> Path:
    """A copy of a GGUF with another chat template (gguf's own gguf_new_metadata script)."""
    import subprocess
    import sys

    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force", "--chat-template", template,
                    str(model), str(dest)], check=True, capture_output=True, timeout=300)
    return dest
