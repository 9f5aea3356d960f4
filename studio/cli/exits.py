"""How a `studio` command ends: the one table of exit codes, and the error that carries one.

Every command prints bad input as one human line on stderr and exits USAGE; a job that ran and did
not succeed (a failed or cancelled run, an unusable dataset, a crashed worker) exits FAILED.
"""

from __future__ import annotations

from studio.core.errors import StudioError

OK = 0
FAILED = 1
USAGE = 2
INTERRUPTED = 130  # Ctrl+C, as shells report a SIGINT (128 + 2)

# Error kinds that mean "what you gave is wrong" rather than "something broke": the CLI's own
# ("usage"), studio.core.limits', the trainer's config check, and the model/worker kinds.
BAD_INPUT_KINDS = frozenset({
    "usage", "out_of_range", "bad_text", "config",
    "not_found", "not_a_file", "empty", "not_gguf", "unsupported_version", "corrupt", "truncated",
    "not_lora", "lora_mismatch", "bad_request", "unknown_architecture", "unsupported_architecture",
    "not_a_model", "template_unsafe", "llama_load_failed", "context_overflow", "model_file", "vocab",
    "template", "bad_schema", "bad_grammar",
})


def code_for(kind: str) -> int:
    return USAGE if kind in BAD_INPUT_KINDS else FAILED


class CliError(StudioError):
    """One line for stderr (`studio: <message>`) and the exit code its kind maps to, unless the
    caller knows better (a download whose file turns out corrupt failed; the user typed nothing wrong)."""

    def __init__(self, kind: str, message: str, code: int | None = None) -> None:
        super().__init__(kind, message)
        self.code = code_for(kind) if code is None else code

    @classmethod
    def from_error(cls, exc: StudioError, code: int | None = None) -> CliError:
        return cls(exc.kind, str(exc), code)
