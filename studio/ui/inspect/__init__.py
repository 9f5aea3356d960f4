"""The Inspect screen: Tokens, Attention and Next token."""
