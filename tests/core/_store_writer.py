"""Child process for the durability test: streams a reply into a ChatStore one token at a time.

Usage: python _store_writer.py DB_PATH N_TOKENS
Prints "ready <conversation_id> <message_id>", then after each committed update_message the
length of the content now committed. The parent kills it mid-stream with SIGKILL.
"""

from __future__ import annotations

import sys


def token(i: int) -> str:
    """The i-th token of the reply; the parent rebuilds the same text to check the prefix."""
    return "机器学习 " if i % 7 == 3 else f"tok{i} "


def main() -> None:
    from studio.core.chat.conversation import MessageStatus
    from studio.core.chat.store import ChatStore

    path, count = sys.argv[1], int(sys.argv[2])
    store = ChatStore(path)
    conversation = store.create_conversation(title="Durability")
    store.add_message(conversation.id, "user", "Tell me a very long story.")
    reply = store.add_message(conversation.id, "assistant", "", status=MessageStatus.STREAMING)
    print(f"ready {conversation.id} {reply.id}", flush=True)
    content = ""
    for i in range(count):
        content += token(i)
        store.update_message(reply.id, content=content)
        print(len(content), flush=True)
    store.update_message(reply.id, status=MessageStatus.COMPLETE)
    print("done", flush=True)
    store.close()


if __name__ == "__main__":
    main()
