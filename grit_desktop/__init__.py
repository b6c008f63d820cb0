"""grit-desktop: an offline desktop chat over your own PDFs, answered by one local GRIT model."""

__version__ = "0.1.0"
APP_NAME = "grit-desktop"
