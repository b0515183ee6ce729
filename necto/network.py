"""Network conditions: NectoProxy's profile object, its 11 presets and custom-profile validation.

A profile is `{id, name, description, enabled, downloadBandwidth, uploadBandwidth, latency,
latencyJitter, packetLoss, isPreset}`; bandwidths are bytes per second (0 = unlimited), latency
and jitter milliseconds, loss a percentage. One profile at a time is active for all traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

PROFILE_NOT_FOUND = "Profile not found"
PROFILE_NOT_FOUND_OR_PRESET = "Profile not found or is a preset"
PROFILE_NAME_REQUIRED = "Profile name is required"
REQUEST_DROPPED = "Request dropped due to packet loss"
RESPONSE_DROPPED = "Response dropped due to packet loss"

K = 1024


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    name: str
    description: str = ""
    download: int = 0  # bytes/s, 0 = unlimited
    upload: int = 0
    latency: float = 0.0  # ms
    jitter: float = 0.0  # ms, +/-
    loss: float = 0.0  # percent
    is_preset: bool = False

    def as_json(self, enabled: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "enabled": enabled,
            "downloadBandwidth": self.download,
            "uploadBandwidth": self.upload,
            "latency": _num(self.latency),
            "latencyJitter": _num(self.jitter),
            "packetLoss": _num(self.loss),
            "isPreset": self.is_preset,
        }

    @property
    def is_noop(self) -> bool:
        return not (self.download or self.upload or self.latency or self.jitter or self.loss)

    def draw_latency(self, rng: random.Random) -> float:
        """This request's latency in ms: latency +/- a uniform share of the jitter, never < 0."""
        if not self.jitter:
            return self.latency
        return max(0.0, self.latency + rng.uniform(-self.jitter, self.jitter))

    def dropped(self, rng: random.Random) -> bool:
        return self.loss > 0 and rng.random() * 100.0 < self.loss


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _preset(i: int, name: str, down: int, up: int, latency: int, jitter: int, loss: float, what: str) -> Profile:
    return Profile(f"preset-{i}", name, what, down, up, latency, jitter, loss, True)


# NectoProxy's presets, in its order and with its numbers (bytes/s are k*1024 in its source).
PRESETS: tuple[Profile, ...] = (
    _preset(0, "No Throttling", 0, 0, 0, 0, 0, "No network conditioning"),
    _preset(1, "Slow 2G", 35 * K, 32 * K, 1400, 400, 1, "280 Kbps down, 256 Kbps up, 1400 ms latency, 1% loss"),
    _preset(2, "Regular 2G", 56 * K, 19 * K, 800, 200, 0.5, "450 Kbps down, 150 Kbps up, 800 ms latency, 0.5% loss"),
    _preset(3, "Good 2G", 112 * K, 35 * K, 650, 150, 0.2, "900 Kbps down, 280 Kbps up, 650 ms latency, 0.2% loss"),
    _preset(4, "Slow 3G", 97 * K, 41 * K, 400, 100, 0, "780 Kbps down, 330 Kbps up, 400 ms latency"),
    _preset(5, "Regular 3G", 192 * K, 94 * K, 300, 100, 0, "1.5 Mbps down, 750 Kbps up, 300 ms latency"),
    _preset(6, "Good 3G", 512 * K, 192 * K, 170, 40, 0, "4 Mbps down, 1.5 Mbps up, 170 ms latency"),
    _preset(7, "Regular 4G", 1152 * K, 512 * K, 50, 10, 0, "9 Mbps down, 4 Mbps up, 50 ms latency"),
    _preset(8, "DSL", 256 * K, 128 * K, 50, 10, 0, "2 Mbps down, 1 Mbps up, 50 ms latency"),
    _preset(9, "WiFi", 3840 * K, 1920 * K, 10, 5, 0, "30 Mbps down, 15 Mbps up, 10 ms latency"),
    _preset(10, "Offline", 1, 1, 30000, 0, 100, "No connectivity: every request is dropped"),
)
PRESET_BY_ID = {p.id: p for p in PRESETS}

# Ranges from NectoProxy's feature page for custom profiles.
LIMITS = {"latency": 30000, "latencyJitter": 5000, "packetLoss": 100}
NUMBER_FIELDS = ("downloadBandwidth", "uploadBandwidth", "latency", "latencyJitter", "packetLoss")
PROFILE_FIELDS = ("name", "description", *NUMBER_FIELDS)


class ProfileError(ValueError):
    """A custom profile that cannot be saved; the message names the field."""


def validate_profile(body: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored fields of a custom profile from a create (current None) or partial update.
    Missing numbers are 0, as in NectoProxy."""
    out: dict[str, Any] = dict(current or {"description": "", **{f: 0 for f in NUMBER_FIELDS}})
    if current is None or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ProfileError(PROFILE_NAME_REQUIRED)
        if len(name) > 200:
            raise ProfileError("name is longer than 200 characters")
        out["name"] = name.strip()
    if "description" in body:
        desc = body["description"]
        if desc is not None and not isinstance(desc, str):
            raise ProfileError("description must be a string")
        out["description"] = desc or ""
    for f in NUMBER_FIELDS:
        if f not in body or body[f] is None:
            continue
        v = body[f]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            raise ProfileError(f"{f} must be a number")
        if v < 0:
            raise ProfileError(f"{f} must not be negative")
        if f in LIMITS and v > LIMITS[f]:
            raise ProfileError(f"{f} must be at most {LIMITS[f]}")
        if f.endswith("Bandwidth"):
            if v != int(v):
                raise ProfileError(f"{f} must be a whole number of bytes per second")
            v = int(v)
        out[f] = v
    return out


def profile_from_fields(pid: str, f: dict[str, Any]) -> Profile:
    return Profile(
        pid,
        f["name"],
        f.get("description") or "",
        int(f.get("downloadBandwidth") or 0),
        int(f.get("uploadBandwidth") or 0),
        float(f.get("latency") or 0),
        float(f.get("latencyJitter") or 0),
        float(f.get("packetLoss") or 0),
        False,
    )
