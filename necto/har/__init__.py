"""HAR 1.2 export, import and validation (streaming, tolerant, round-trip exact)."""

from necto.har.export import entry_to_har, export_har
from necto.har.importer import HarReader, import_har
from necto.har.validate import HarError, Report, validate_har

__all__ = ["HarError", "HarReader", "Report", "entry_to_har", "export_har", "import_har", "validate_har"]
