"""Answering a question: retrieval, the GRIT cached prompt and answer, citations, chats."""
