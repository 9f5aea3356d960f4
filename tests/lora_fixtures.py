"""A LoRA adapter for the starter made in seconds: random (untrained) q/k/v/o updates, exported to
GGUF the way a training run exports its adapter. Untrained is enough where a test only needs an
adapter that moves attention and the prediction."""

from __future__ import annotations

from pathlib import Path


def random_lora_gguf(dequantized_starter: Path, starter_model: Path, folder: Path, *, seed: int = 1,
                     std: float = 0.05) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.core.training.export_gguf import export_lora_gguf

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(dequantized_starter), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, std)
    peft_model.save_pretrained(str(folder / "lora"))
    return export_lora_gguf(folder / "lora", folder / "adapter.gguf", base_model=starter_model)
