"""A headless stand-in for the app process: ChatSession + real engine worker + real store.

It streams one long reply and prints the stored length after every token, so a test can SIGKILL
it mid-reply and check what survived.
"""

import asyncio
import sys

from studio.core.chat.sampling import SamplingParams
from studio.core.chat.session import ChatSession
from studio.core.chat.store import ChatStore
from studio.core.engine.client import EngineClient


async def main(db: str, model: str) -> None:
    store = ChatStore(db)
    engine = EngineClient()
    await engine.load(model, n_ctx=1024)
    session = ChatSession(store, engine)
    session.new_conversation(sampling=SamplingParams(temperature=0.9, max_tokens=900, seed=11, n_ctx=1024))
    session.subscribe("message_updated",
                      lambda message, delta: print(f"{message.id} {len(message.content)}", flush=True))
    print(f"worker {engine.worker.pid}", flush=True)
    await session.send("Write a very long story about a lighthouse keeper.")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
