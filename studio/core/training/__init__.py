"""Fine-tuning: run configs, the run history, and a trainer worker (torch) with an asyncio client.

Importing this package stays torch-free; torch, transformers and peft load inside the worker.
"""

from studio.core.training.config import PRESETS, ConfigError, RunConfig, defaults_for, target_modules_for
from studio.core.training.runs import RunDir, RunSummary, list_runs, runs_root

__all__ = ["PRESETS", "ConfigError", "RunConfig", "RunDir", "RunSummary", "defaults_for", "list_runs",
           "runs_root", "target_modules_for"]
