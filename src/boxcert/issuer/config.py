"""The issuer's settings that shape decisions (zone, limits), apart from how it is run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from boxcert import naming


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    zone: str = naming.DEFAULT_ZONE
    max_boxes_per_database: int = 100
    # When the zone is on the Public Suffix List each label is its own registered domain, as
    # for Plex, Home Assistant and Tailscale; else the whole zone shares the CA's limits.
    zone_is_public_suffix: bool = False
    weekly_cap_per_domain: int = 45  # under Let's Encrypt's 50 per registered domain per week
    # How long certificates stay valid after their database stops being entitled.
    revoke_grace: timedelta = timedelta(days=7)

    def registered_domain(self, label: str) -> str:
        """The domain a public CA counts a holder's certificates against."""
        return f"{label}.{self.zone}" if self.zone_is_public_suffix else self.zone
