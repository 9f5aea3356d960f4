"""Export a conversation as Markdown (to read or share) or JSON (to keep or re-import).

Both hold the branch shown. A JSON export can also hold the other alternatives (edits, regenerated
replies): then every message carries its "id" and "parent_id", and "alternatives" lists the messages
off the shown branch in the same form, so the whole tree can be rebuilt; readers that know only
"messages" still get the conversation as shown.

Files are written atomically: a temporary file in the same folder, flushed and fsynced, then
renamed over the target, so a crash never leaves a half-written export behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from studio.core.chat.conversation import Conversation, Message, MessageStatus
from studio.core.chat.thinking import export_parts, markdown_lines
from studio.core.engine.sampling import SamplingParams
from studio.core.files import fsync_dir

FORMAT = "local-llm-studio.conversation"
FORMAT_VERSION = 1
MARKDOWN_SUFFIXES = (".md", ".markdown")
JSON_SUFFIXES = (".json",)

_ROLE_HEADINGS = {"user": "User", "assistant": "Assistant", "system": "System"}
_STATUS_NOTES = {
    MessageStatus.INTERRUPTED: "Interrupted: the app or model stopped before this reply was finished.",
    MessageStatus.STOPPED: "Stopped by the user before the reply was finished.",
    MessageStatus.STREAMING: "Still being written when this was exported.",
    MessageStatus.ERROR: "The reply failed.",
}


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "unknown"


def to_markdown(conversation: Conversation, messages: list[Message]) -> str:
    lines = [f"# {conversation.title}", ""]
    if conversation.model:
        lines.append(f"- **Model:** `{Path(conversation.model).name}`")
    lines.append(f"- **Started:** {_iso(conversation.created_at)}")
    sampling = conversation.sampling.to_dict()
    lines.append("- **Sampling:** " + ", ".join(f"{key} {value}" for key, value in sampling.items()))
    lines.append("")
    if conversation.system_prompt.strip():
        lines += ["## System prompt", ""]
        lines += [f"> {line}" if line else ">" for line in conversation.system_prompt.splitlines()]
        lines.append("")
    for message in messages:
        lines += [f"## {_ROLE_HEADINGS.get(message.role, message.role.title())}", ""]
        lines += markdown_lines(message)  # a reply's thinking as its own part
        note = _STATUS_NOTES.get(message.status)
        if note:
            error = message.stats.get("error") if message.status == MessageStatus.ERROR else None
            lines += [f"*[{note}{' ' + str(error) if error else ''}]*", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_json(conversation: Conversation, messages: list[Message],
            alternatives: list[Message] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": time.time(),
        "title": conversation.title,
        "system_prompt": conversation.system_prompt,
        "model": conversation.model,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "sampling": conversation.sampling.to_dict(),
        "messages": [
            {"role": m.role, "content": m.content, "status": MessageStatus(m.status).value,
             "stats": dict(m.stats), "created_at": m.created_at, **export_parts(m)}
            for m in messages
        ],
    }
    if alternatives is not None:
        data["alternatives"] = to_json(conversation, alternatives)["messages"]
        for entry, m in zip([*data["messages"], *data["alternatives"]], [*messages, *alternatives]):
            entry.update(id=m.id, parent_id=m.parent_id)
    return data


def from_json(data: dict[str, Any]) -> tuple[Conversation, list[Message]]:
    """Read what `to_json` wrote (ids are 0: the store assigns new ones on import)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("this is not a Local LLM Studio conversation export")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"this export has format version {version!r}; this app reads up to {FORMAT_VERSION}")
    conversation = Conversation(
        id=0, title=str(data.get("title", "")), system_prompt=str(data.get("system_prompt", "")),
        sampling=SamplingParams.from_dict(data.get("sampling")), model=str(data.get("model", "")),
        created_at=float(data.get("created_at", 0.0)), updated_at=float(data.get("updated_at", 0.0)))
    messages = [
        Message(id=0, conversation_id=0, role=str(m["role"]), content=str(m.get("content", "")),
                status=MessageStatus(m.get("status", "complete")), created_at=float(m.get("created_at", 0.0)),
                stats=dict(m.get("stats") or {}))
        for m in data.get("messages", [])
    ]
    return conversation, messages


def write_export(path: Path | str, conversation: Conversation, messages: list[Message],
                 alternatives: list[Message] | None = None) -> Path:
    """Write Markdown or JSON by the suffix of `path`, atomically; returns the path written.
    `alternatives` (the messages off the shown branch) go into JSON only."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        text = to_markdown(conversation, messages)
    elif suffix in JSON_SUFFIXES:
        text = json.dumps(to_json(conversation, messages, alternatives), ensure_ascii=False, indent=2) + "\n"
    else:
        raise ValueError(
            f"cannot export to {path.name!r}: choose a file name ending in .md, .markdown or .json")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path
