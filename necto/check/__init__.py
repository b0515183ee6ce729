"""A traffic contract gate: compare a baseline run with the current one, per endpoint.

`run_check(base, current, rules)` -> a result dict that `text_report`, `junit_xml` and
`markdown` render (and `--json` prints as is). Rules (necto-check.yaml) decide which findings
fail the build; see necto.check.rules for the file and its defaults.
"""

from necto.check.findings import Side, run_check
from necto.check.report import junit_xml, markdown, text_report
from necto.check.rules import (
    DEFAULT_LEVELS,
    DEFAULT_RULES_FILE,
    CheckRules,
    RulesError,
    add_rewrites,
    load_rules,
    rules_from_data,
)

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_RULES_FILE",
    "CheckRules",
    "RulesError",
    "Side",
    "add_rewrites",
    "junit_xml",
    "load_rules",
    "markdown",
    "rules_from_data",
    "run_check",
    "text_report",
]
