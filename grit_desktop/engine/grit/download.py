"""Downloading a model from the Hugging Face Hub into its local cache, where `loading` finds it.

Only what loading needs is fetched (safetensors weights, JSON configs, the tokenizer). The Hub
library resumes an interrupted download where it stopped. Offline, it fails with a message that
says so, and nothing already downloaded is lost.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

from grit_desktop.config import DEFAULT_MODEL
from grit_desktop.errors import GritError

log = logging.getLogger(__name__)

#: The files a model needs: weights (safetensors only), configs, tokenizer.
MODEL_FILES = ["*.safetensors", "*.json", "tokenizer.model"]


class DownloadError(GritError):
    """The model could not be downloaded; the message says why (offline, not found, disk full)."""


def download(repo_id: str = DEFAULT_MODEL, tqdm_class: Any = None) -> Path:
    """Fetch ``repo_id`` into the local Hub cache and return its snapshot folder.

    ``tqdm_class`` receives the progress (the Hub library's convention); None shows its bars.
    """
    from huggingface_hub import errors as hub
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, allow_patterns=MODEL_FILES, tqdm_class=tqdm_class)
    except hub.RepositoryNotFoundError as exc:
        raise DownloadError(f"there is no model {repo_id!r} on the Hugging Face hub") from exc
    except hub.GatedRepoError as exc:
        raise DownloadError(f"{repo_id} needs a Hugging Face account that accepted its terms") from exc
    except hub.LocalEntryNotFoundError as exc:
        raise DownloadError(
            f"cannot download {repo_id}: this machine is offline or the Hub is unreachable "
            "(HF_HUB_OFFLINE may be set). Copy the model folder here and pick it instead."
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"the disk is full while downloading {repo_id}; free space and run the download "
                "again: it resumes where it stopped"
            ) from exc
        raise DownloadError(f"cannot download {repo_id}: {exc}") from exc
    except Exception as exc:  # network errors come in many kinds
        log.debug("download of %s failed", repo_id, exc_info=True)
        raise DownloadError(f"cannot download {repo_id}: {str(exc).splitlines()[0]}") from exc
    return Path(folder)
