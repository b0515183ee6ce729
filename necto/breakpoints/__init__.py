"""Breakpoints: hold one exchange in flight, show it, let a person edit it and let it go.

model.py (the definition, its validation, conditions), book.py (what the proxy applies now),
hits.py (the exchanges held right now, how they are resumed, timeouts, events), message.py
(an exchange as an editable HTTP message, for `necto breakpoints watch`). The mitmproxy side
is `necto.capture.breakpoints`.
"""
