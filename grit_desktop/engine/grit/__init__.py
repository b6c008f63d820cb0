"""The GRIT model: one LM that embeds and generates, its prompts, KV states and sampling."""
