"""The one exception type that reaches users as a single clear line."""


class AutoMRIError(Exception):
    """Bad input or an impossible request.

    The message must name the file, key or flag at fault and what was expected, e.g.
    ``"data.h5: key 'kspace' missing (expected a complex array [slices, H, W])"``.
    The CLI prints it as one line and exits with status 2.
    """
