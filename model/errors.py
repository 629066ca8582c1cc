"""Typed errors with sentences a person understands; the web layer maps them to 4xx."""


class HeirloomError(Exception):
    """Base class of every error Heirloom raises on purpose."""


class UnreadableImage(HeirloomError):
    """The bytes are not an image we can decode (not an image, truncated, corrupt)."""


class UnsupportedImage(HeirloomError):
    """A valid image in a form we do not colorize (e.g. an animated or multi-layer mode we cannot map)."""


class ImageTooLarge(HeirloomError):
    """More pixels than the configured limit; also raised for decompression bombs."""


class WorkTooLarge(HeirloomError):
    """This photo at these options would need more memory than one request may use (the work budget)."""


class WorkerCrashed(HeirloomError):
    """The worker process colorizing this photo died (a crash in native code, or killed); the server lives on."""


class OutOfMemory(WorkerCrashed):
    """The server ran out of memory while colorizing this photo (the kernel's OOM killer ended its process)."""


class JobTimeout(HeirloomError):
    """The photo took longer than the configured time limit; its worker was stopped and replaced."""


class JobCancelled(HeirloomError):
    """Queue mode: the operator cancelled a queued job (`heirloom jobs cancel`)."""


class CheckpointError(HeirloomError):
    """A weights file that is missing, corrupt, of another format, or does not match its config."""


class ChecksumMismatch(CheckpointError):
    """The shipped weights do not match the SHA-256 recorded beside them."""


class InvalidOption(HeirloomError, ValueError):
    """An option value (render size, policy, saturation, format) outside what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class NoImages(HeirloomError, FileNotFoundError):
    """A folder or a list of inputs in which there is no image to work on."""


class ConfigError(HeirloomError, ValueError):
    """A training config, preset or override that does not make sense."""


# --- errors on the wire: (class name, message, field), for the worker processes' pipe and the job queue ---


def error_to_wire(e: HeirloomError) -> tuple[str, str, str | None]:
    return type(e).__name__, str(e), getattr(e, "field", None)


def error_from_wire(packed: tuple[str, str, str | None] | list[str | None]) -> HeirloomError:
    """The typed error again (HeirloomError for a name this version does not know)."""
    name, message, field = packed
    cls = globals().get(str(name), HeirloomError)
    if not (isinstance(cls, type) and issubclass(cls, HeirloomError)):
        cls = HeirloomError
    if cls is InvalidOption:
        return InvalidOption(field or "", str(message))
    return cls(str(message))
