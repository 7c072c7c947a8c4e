"""The error hierarchy. Adapters translate library errors into these; entrypoints map them."""

from __future__ import annotations


class SentimentError(Exception):
    """Base of every error this system raises on purpose."""


class DatasetError(SentimentError):
    """The training or evaluation data cannot be used: missing, unreadable, malformed, too small."""


class DownloadError(DatasetError):
    """A dataset download failed, was truncated or did not match its checksum."""


class ClassifierError(SentimentError):
    """A classifier cannot be built, fitted or asked to predict."""


class NotFittedError(ClassifierError):
    """A classifier was asked to predict before it was fitted."""


class RegistryError(SentimentError):
    """The model registry failed (for example: it is unreachable)."""


class RegistryUnavailableError(RegistryError):
    """The model registry cannot be reached right now; the same call may succeed later."""


class ModelNotFoundError(RegistryError):
    """The registered model, version or alias that was asked for does not exist."""


class ModelLoadError(RegistryError):
    """A registered version exists but its artifact cannot be loaded."""


class InvalidInputError(SentimentError):
    """A prediction request is not acceptable (empty text, too long, too many texts)."""


class ModelCrashError(ModelLoadError):
    """A loaded model raised an error of its own (not a SentimentError) on its smoke test.

    The message names only that error's type (its text may hold anything: paths, data);
    `__cause__` is the error, for whoever logs this one with its traceback."""


class RegistryInputError(RegistryError):
    """A version, alias, model reference or tag is malformed; the registry was not asked."""


class PromotionRefusedError(SentimentError):
    """An alias move was refused: the version is not eligible, or there is nothing to undo."""


class ModelNotReadyError(SentimentError):
    """No model is being served yet (the registry is away, empty, or the load is in progress).

    `retry_after_s` estimates when asking again may succeed (None: unknown).
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
