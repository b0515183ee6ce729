"""Rules: what Necto changes in traffic (mock, map local/remote, modify, delay, throttle, block,
replay from a recording), and how they are validated, compiled and evaluated.

model.py (the rule object and its validation), edits.py (header, query and body edits),
engine.py (compiled rules, the per-request index and evaluation order), local.py (map-local
files), recorded.py (answers from a recorded session or HAR), sources.py (what rules need from
outside: recordings, body files), book.py (what the proxy applies now), fileformat.py (rules
files a team can commit), mockserver.py (`necto mock`), mcp.py (NectoProxy's MCP `create_rule`
parameters as a rule).
"""

from necto.rules.model import ACTIONS, RULE_NOT_FOUND, TERMINAL, Rule, RuleError, validate_rule

__all__ = ["ACTIONS", "RULE_NOT_FOUND", "TERMINAL", "Rule", "RuleError", "validate_rule"]
