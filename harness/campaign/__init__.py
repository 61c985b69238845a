"""Campaigns: the declared plan (``scenarios/<campaign>.yaml``) and the pure call classification.

``config`` loads and validates a campaign file; ``classify`` turns one call's signalling
timeline and the segments of its recording into an outcome and phase figures; ``plan``
decides which calls to place and when (redial chains, limits, resume, when to give up).
``classify`` and ``plan`` are pure: no SIP, no files, no clock. The runner (the loop, given
a dialer and a clock) lives apart.
"""

from __future__ import annotations

from harness.campaign.classify import CallRules, Classification, classify
from harness.campaign.config import Campaign, load_campaign

__all__ = [
    "CallRules",
    "Campaign",
    "Classification",
    "classify",
    "load_campaign",
]
