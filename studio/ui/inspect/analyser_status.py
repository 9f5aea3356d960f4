"""How the Attention and Logit lens panels report the analyser worker: the progress bar, the
stage line, and the note for a failed or cancelled request. One place, so both say the same."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QProgressBar

from studio.core.workers.protocol import WorkerError


def show_fraction(bar: QProgressBar, fraction: float | None) -> None:
    """A busy bar until the worker gives a fraction, then 0..1 as 0..1000."""
    if fraction is None or fraction < 0:
        bar.setRange(0, 0)
    else:
        bar.setRange(0, 1000)
        bar.setValue(int(max(0.0, min(1.0, float(fraction))) * 1000))


def stage_text(stage: str, running: str) -> str:
    """The worker's stage name as a sentence; `running` names the forward pass for this panel."""
    known = {
        "dequantize": QCoreApplication.translate(
            "AnalyserStatus", "Preparing the model for torch (first time only, may take ~20 s)…"),
        "load": QCoreApplication.translate("AnalyserStatus", "Loading the model…"),
        "tokenize": QCoreApplication.translate("AnalyserStatus", "Tokenizing…"),
        "forward": running,
        "write": QCoreApplication.translate("AnalyserStatus", "Saving the weights…"),
        "lens": QCoreApplication.translate("AnalyserStatus", "Decoding each layer…"),
    }
    return known.get(stage, running)


def failure_note(exc: WorkerError, cancelled: bool, failed: str) -> tuple[str, str]:
    """(text, level) for a request that ended in an error; `failed` has an {error} placeholder.
    An unsupported architecture is the worker's own sentence: it already says what still works."""
    if exc.kind == "cancelled" or cancelled:
        return QCoreApplication.translate("AnalyserStatus", "Cancelled; nothing was computed."), "info"
    if exc.kind == "unsupported_architecture":
        return exc.message, "warning"
    return failed.format(error=exc.message), "error"
