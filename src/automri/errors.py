"""The one exception type that reaches users as a single clear line."""


class AutoMRIError(Exception):
    """Bad input or an impossible request.

    The message must name the file, key or flag at fault and what was expected, e.g.
    ``"data.h5: key 'kspace' missing (expected a complex array [slices, H, W])"``.
    The CLI prints it as one line and exits with status 2. Line breaks in the message (often
    quoted from a library's own error) are folded into spaces, so the message is always one line.
    """

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(line.strip() for line in str(message).splitlines() if line.strip()))
