"""Record into Necto's store from a plain mitmdump:

    mitmdump -s addons/necto_recorder.py [--set necto_home=DIR]

All the logic lives in the installed `necto` package; this file only hands its addons over.
"""

from necto.capture.standalone import addons

__all__ = ["addons"]
