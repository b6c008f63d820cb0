"""The headless engine: everything but the window and the command line (docs/architecture.md).

`session.Session` is what a front end calls; the rooms below it are `documents` (reading PDFs),
`index` (the library), `grit` (the model) and `answering` (retrieval, cached generation,
citations).
"""
