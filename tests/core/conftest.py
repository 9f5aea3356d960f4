"""Fixtures for the core tests (no Qt)."""

import asyncio
from dataclasses import replace

import pytest

from studio.core.engine.sampling import PRESETS
from studio.core.chat.session import ChatSession
from studio.core.chat.store import ChatStore
from studio.core.engine.client import EngineClient

PRECISE = replace(PRESETS["Precise"], n_ctx=2048)


@pytest.fixture(scope="module")
def loop():
    """One event loop per test module: a warm worker's pipes belong to the loop that started it."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture()
def harness(starter_model, tmp_path):
    """(session, store, engine, loop) with the starter model loaded."""
    loop = asyncio.new_event_loop()
    store = ChatStore(tmp_path / "chats.sqlite3")
    engine = EngineClient()
    loop.run_until_complete(engine.load(str(starter_model), n_ctx=2048))
    session = ChatSession(store, engine)
    session.new_conversation(sampling=PRECISE)
    yield session, store, engine, loop
    loop.run_until_complete(engine.close())
    store.close()
    loop.close()
