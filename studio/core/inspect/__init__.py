"""Looking inside a model: tokens (llama.cpp vocab only), attention and the logit lens (torch
worker), and the next-token distribution (llama.cpp engine). Qt-free."""
