"""Necto: an intercepting HTTP(S) debugging proxy that records every exchange for HAR work."""

__version__ = "0.1.0"
