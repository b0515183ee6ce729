"""HAR 1.2 export, import and validation (streaming, tolerant, round-trip exact).

source.py (bytes, through guard.py's bounds) -> reader.py (HarReader: batches of Entry, via
convert.py) -> importer.py (atomic into the store, with the file's pages, log fields and every
warning) or validate.py (nothing stored); export.py writes Entries back out around pages.py's
plan; derive.py holds what both directions derive from an Entry; report.py the errors and
warnings; sniff.py says what a file that is not a HAR is.
"""

from necto.har.export import entry_to_har, export_har
from necto.har.importer import import_har
from necto.har.reader import HarReader, aiter_entries, load_entries
from necto.har.report import HarError, Report
from necto.har.validate import validate_har

__all__ = [
    "HarError",
    "HarReader",
    "Report",
    "aiter_entries",
    "entry_to_har",
    "export_har",
    "import_har",
    "load_entries",
    "validate_har",
]
