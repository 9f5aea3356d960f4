"""The Chat screen: the conversation view, its message list, the settings panel and the sidebar."""
