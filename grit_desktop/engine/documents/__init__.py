"""Reading documents: PDF text by page (and OCR), the reader child process, passages, spans.

Imports nothing else of the engine, and neither torch nor LanceDB: the reader process runs it.
"""
