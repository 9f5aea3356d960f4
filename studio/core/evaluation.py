"""Did the adapter help? Base vs tuned on the app's engine: perplexity on validation texts and the same
prompts answered greedily by both.

Both hold the workspace's engine lease ("evaluation") for their whole run, load the run's base model
through the workspace when the engine holds another one, and swap the adapter on and off inside
`Workspace.adapters_swapped`, so the chat's adapters come back even after an error or a cancel.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from studio.core.engine.sampling import SamplingParams
from studio.core.engine.client import Generation
from studio.core.workspace import Workspace

SIDES = ("base", "tuned")          # adapter detached, then attached
COMPARE_SEED = 42


@dataclass
class PerplexityOutcome:
    """Results of the engine's perplexity ({ppl, nll, tokens, …}) per side; `cancelled` after stop()."""
    base: dict[str, Any] | None = None
    tuned: dict[str, Any] | None = None
    cancelled: bool = False


@dataclass
class ComparisonOutcome:
    """(base answer, tuned answer) per prompt; `stopped` after stop() (the answers are then partial)."""
    answers: list[list[str]] = field(default_factory=list)
    stopped: bool = False


class AdapterEvaluation:
    """One evaluation at a time on the workspace's engine; stop() ends the one in flight."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.running = False
        self._stop = False
        self._generation: Generation | None = None

    def _sides(self, adapter: str, scale: float) -> list[tuple[str, list[dict[str, Any]]]]:
        return [(SIDES[0], []), (SIDES[1], [{"path": adapter, "scale": scale}])]

    async def perplexity(self, base_model: str, adapter: str, texts: list[str], *, scale: float = 1.0,
                         on_progress: Callable[[str, float, str], Any] | None = None,
                         on_result: Callable[[PerplexityOutcome], Any] | None = None) -> PerplexityOutcome | None:
        """Perplexity of `texts` without, then with, the adapter. `on_progress(side, overall fraction,
        stage)`; `on_result(outcome)` after each side. None when the base model could not be loaded
        (the workspace's load_failed says why); raises EngineBusy or WorkerError."""
        engine = self.workspace.engine
        outcome = PerplexityOutcome()
        async with self._running(), self.workspace.lease("evaluation") as lease:
            if await self.workspace.use_model(base_model, lease=lease) is None:
                return None
            async with self.workspace.adapters_swapped() as swap:
                for half, (side, adapters) in enumerate(self._sides(adapter, scale)):
                    await swap.set(adapters)

                    def progress(fraction: float, stage: str, half: int = half, side: str = side) -> None:
                        if on_progress is not None:
                            on_progress(side, (half + fraction) / 2, stage)

                    result = await engine.perplexity(texts, on_progress=progress)
                    if result.get("cancelled") or self._stop:
                        outcome.cancelled = True
                        return outcome
                    setattr(outcome, side, result)
                    if on_result is not None:
                        on_result(outcome)
        return outcome

    async def compare(self, base_model: str, adapter: str, prompts: list[str], max_tokens: int, *,
                      scale: float = 1.0, on_answering: Callable[[str, int], Any] | None = None,
                      on_token: Callable[[int, int, str], Any] | None = None) -> ComparisonOutcome | None:
        """Answer each prompt without, then with, the adapter (greedy and seeded, so the two are
        comparable), with the chat's context length. `on_answering(side, row)` before each answer;
        `on_token(row, column, text)` per streamed piece (column 1 = base, 2 = tuned). None when the
        base model could not be loaded; raises EngineBusy or WorkerError."""
        n_ctx = self.workspace.context_length()
        sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens, seed=COMPARE_SEED,
                                  **({"n_ctx": n_ctx} if n_ctx else {}))
        outcome = ComparisonOutcome(answers=[["", ""] for _ in prompts])
        async with self._running(), self.workspace.lease("evaluation") as lease:
            if await self.workspace.use_model(base_model, lease=lease) is None:
                return None
            async with self.workspace.adapters_swapped() as swap:
                for column, (side, adapters) in enumerate(self._sides(adapter, scale), start=1):
                    await swap.set(adapters)
                    for row, prompt in enumerate(prompts):
                        if self._stop:
                            outcome.stopped = True
                            return outcome
                        if on_answering is not None:
                            on_answering(side, row)
                        await self._answer(prompt, sampling, row, column, outcome, on_token)
        return outcome

    async def _answer(self, prompt: str, sampling: SamplingParams, row: int, column: int,
                      outcome: ComparisonOutcome, on_token: Callable[[int, int, str], Any] | None) -> None:
        generation = await self.workspace.engine.generate([{"role": "user", "content": prompt}], sampling)
        self._generation = generation
        try:
            async for kind, value in generation:
                if kind == "token":
                    outcome.answers[row][column - 1] += value
                    if on_token is not None:
                        on_token(row, column, value)
        finally:
            self._generation = None

    async def stop(self) -> None:
        """End the evaluation in flight: the answer being written, then the perplexity pass."""
        self._stop = True
        if self._generation is not None:
            await self._generation.cancel()
        if self.running:
            await self.workspace.engine.cancel_perplexity()

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Marks the evaluation as running for the block (and clears an earlier stop)."""
        self._stop = False
        self.running = True
        try:
            yield
        finally:
            self.running = False


__all__ = ["SIDES", "AdapterEvaluation", "ComparisonOutcome", "PerplexityOutcome"]
