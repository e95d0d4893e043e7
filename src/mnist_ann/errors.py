"""The expected failures: each carries one line that names what is wrong, and entry points print
that line without a traceback."""


class MnistAnnError(Exception):
    """Base of every error a user can cause or fix (bad params, bad data, unreachable sources)."""


class ParamsError(MnistAnnError):
    """A parameter file that is missing, unreadable, or has a wrong, unknown or missing key."""


class DataError(MnistAnnError):
    """An array or data file that is not what it should be (shape, dtype, hash, format)."""


class DownloadError(MnistAnnError):
    """Every configured data source failed; the message lists each source and why."""
