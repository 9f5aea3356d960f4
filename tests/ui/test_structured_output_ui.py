"""Structured output in the real window: the Output format box, a schema-constrained reply shown as
formatted JSON with its check, and bad schemas/grammars explained inline (real engine, starter)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from PySide6.QtGui import QGuiApplication, QTextDocument

from studio.core.chat.conversation import MessageStatus
from studio.ui.chat.output_format import SCHEMA_EXAMPLES
from tests.ui.conftest import set_sampling
from tests.ui.test_chat_flow import type_and_send, wait_reply_done

pytestmark = pytest.mark.slow


def show_box(win) -> None:
    panel = win.chat.settings_panel
    panel.verticalScrollBar().setValue(panel.output_box.y() - 40)


def choose(box, kind: str) -> None:
    box.kind.setCurrentIndex(box.kind.findData(kind))


def test_json_schema_reply_shows_formatted_and_valid(qtbot, run, window, screenshot_dir):
    win = window
    set_sampling(win, temperature=0.8, seed=3, max_tokens=256)
    box = win.chat.settings_panel.output_box
    choose(box, "json_schema")
    box.example.activated.emit(box.example.findData("person"))  # "Start from an example…" → A person
    run(box.check())
    saved = win.chat.session.conversation.options["output_format"]
    assert saved["kind"] == "json_schema" and json.loads(saved["text"]) == SCHEMA_EXAMPLES["person"]
    assert box.status.text().startswith("✓")

    type_and_send(qtbot, win, "Describe a fictional person.")
    reply = wait_reply_done(run, win, timeout=120)
    assert reply.message.status == MessageStatus.COMPLETE
    value = json.loads(reply.text)
    jsonschema.validate(value, SCHEMA_EXAMPLES["person"])
    assert reply.structured_note.isVisible() and reply.structured_note.text().startswith("✓ Valid")
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    shown = reply.body.text()
    assert "<pre" in shown and "<span style=" in shown  # a code block, syntax-coloured
    document = QTextDocument()
    document.setHtml(shown)
    assert pretty in document.toPlainText()  # indented, one key per line
    reply.copy_button.click()
    assert QGuiApplication.clipboard().text() == pretty

    show_box(win)
    qtbot.wait(100)
    win.grab().save(str(screenshot_dir / "chat_structured_output.png"))

    # the format stays with the conversation: reopened, the box shows it again
    conversation_id = win.chat.session.conversation.id
    win.chat.session.new_conversation()
    assert box.current_kind() == "free"
    win.chat.session.open(conversation_id)
    assert box.current_kind() == "json_schema" and json.loads(box.editor.toPlainText()) == SCHEMA_EXAMPLES["person"]
    assert win.chat.messages.widgets[reply.message_id].structured_note.text().startswith("✓ Valid")


def test_cut_reply_says_raise_max_tokens(qtbot, run, window):
    win = window
    set_sampling(win, max_tokens=4)  # too few for any key and value: on some CPUs 8 closed a short object
    box = win.chat.settings_panel.output_box
    choose(box, "json")
    run(box.check())
    assert win.chat.session.conversation.options["output_format"] == {"kind": "json", "text": ""}
    assert "Max tokens is 4" in box.status.text()
    type_and_send(qtbot, win, "Describe a cat as JSON with its name, age, colour, breed and favourite food.")
    reply = wait_reply_done(run, win)
    note = reply.structured_note.text()
    assert note.startswith("✗ Invalid") and "token limit before the JSON closed" in note and "Max tokens" in note


def test_bad_schema_and_grammar_are_explained_and_not_saved(qtbot, run, window, screenshot_dir):
    win = window
    box = win.chat.settings_panel.output_box
    choose(box, "json_schema")
    box.editor.setPlainText('{"type": "object",\n  "properties": {"a": }}')
    run(box.check())
    assert "not valid JSON" in box.status.text() and "line 2, column 23" in box.status.text()
    assert "output_format" not in win.chat.session.conversation.options
    box.editor.setPlainText('{"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}}')
    run(box.check())
    assert box.status.text().startswith("✓") and "maximum: not enforced while the reply is written" in box.status.text()
    assert win.chat.session.conversation.options["output_format"]["kind"] == "json_schema"

    choose(box, "gbnf")
    box.editor.setPlainText('root ::= answer\n')
    run(box.check(), timeout=60)
    assert "Undefined rule identifier 'answer'" in box.status.text()
    assert win.chat.session.conversation.options["output_format"]["kind"] == "json_schema"  # the last good one
    show_box(win)
    qtbot.wait(100)
    win.chat.settings_panel.grab().save(str(screenshot_dir / "chat_output_format_bad_grammar.png"))

    box.example.activated.emit(box.example.findData("yes_no"))
    run(box.check(), timeout=60)
    assert box.status.text().startswith("✓")
    assert win.chat.session.conversation.options["output_format"]["kind"] == "gbnf"
    set_sampling(win, temperature=0.8, seed=1, max_tokens=120)
    type_and_send(qtbot, win, "Is the sea salty?")
    reply = wait_reply_done(run, win)
    assert reply.text.startswith(("yes. ", "no. "))
    assert reply.structured_note.text().startswith("✓")
