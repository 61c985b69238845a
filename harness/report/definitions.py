"""Metric definitions, written once and printed in report.md, report.html (docs/REPORT.md says more).

Each entry: the column(s), how it is computed from the evidence, and which standard definition it
follows or where it differs.
"""

from __future__ import annotations

from harness.vocab import DEFAULT_REDIAL_PROPENSITY

_DEFAULT_PROPENSITY = ", ".join(f"{p * 100:g}%" for p in DEFAULT_REDIAL_PROPENSITY)

DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("attempts", "evidence rows (call attempts, INVITEs sent) of the hotline",
     "ITU-T E.411 / RFC 6076 denominator: one INVITE per attempt"),
    ("answered, answer_rate", "attempts with a 200 OK (answered=true); answered / attempts",
     "Answer-seizure ratio (ASR, ITU-T E.411) as RFC 6076 computes it: 200 OK / INVITEs"),
    ("drops, drop_rate [low, high]",
     "(gentle_disconnect + dropped_silent) / answered; Wilson score 95% interval",
     ("Differs on purpose from the cut-off call ratio (ETSI TS 102 250-2, ITU-T E.804) and E.800 premature "
     "release, which count only releases not made intentionally by a party: a hotline hanging up on "
     "purpose is exactly what they leave out and what this rate measures")),
    ("gentle_disconnect, dropped_silent",
     "answered, no live agent, hung up by the hotline after music/greeting (gentle) or after silence",
     "no standard counterpart; dropped_silent is the nearest to RFC 6076 false answer supervision"),
    ("agent_reached, agent_reached_rate [low, high]", "agent_reached / answered; Wilson 95% interval",
     ("1 - agent_reached_rate is the regulators' abandoned-call rate by analogy (FCC 47 CFR 64.1200(a)(6), "
     "FTC, Ofcom: a call answered with no live agent is abandoned; limit 3% of answered calls, Canada 5%); "
     "theirs is per campaign over 30 days, ours per survey")),
    ("busy, no_answer, rejected, error, gave_up_on_hold",
     ("attempts per outcome: 486/600 busy; ringing until our CANCEL or 408; other 4xx-6xx; "
     "no final response/infrastructure; we hung up after the hold limit without an agent"),
     ("RFC 6076 SEER counts 480/486/600/603 as effective; ISA counts 408/500/503/504; gave_up_on_hold is "
     "a caller-side abandonment in call-centre terms")),
    ("time_to_answer_median_s, _p90_s", ("answer_s (INVITE to 200 OK) of answered calls; median and 90th "
     "percentile (linear interpolation)"),
     ("ETSI TS 102 250-2 setup time ends at the connect/alerting trigger point; ours ends at the answer, "
     "so it includes ringing. Post-dial delay (RFC 6076, INVITE to first 180/183) is ring start, not this")),
    ("music_before_drop_median_s, _p90_s", "music_s of dropped calls", "no standard counterpart"),
    ("time_to_agent_median_s, _p90_s",
     ("agent_start_s (INVITE to the agent's first words, from the classifier) of agent_reached calls; "
     "empty when the evidence has no agent_start_s"), "call-centre speed of answer, measured from the INVITE"),
    ("billed_s, billed_no_service_s", "sum of billed_s; of answered calls that never reached an agent",
     ("the cost to callers of answer without service (false answer supervision, RFC 6076, is the "
     "signalling-only neighbour)")),
    ("chains, max_drop_streak", ("redial chains (one simulated customer); longest run of consecutive "
     "dropped attempts in one chain"), "survey practice; no standard counterpart"),
    ("loss_share [low, high]",
     ("expected share of callers lost to drops: the k-th call drops with the ladder's conditional drop "
     "rate at k, after the k-th drop the caller redials with the propensity p_k "
     f"(default {_DEFAULT_PROPENSITY}), "
     "the last stage repeats; bounds use each rate's 95% bounds"),
     "projection from the published survey's redial propensities; not a measured figure"),
    ("redial ladder: reached, dropped, conditional_drop_rate, never_agent_share",
     ("chains that made attempt k; of those, dropped at k; dropped / reached (Wilson 95%); chains with no "
     "agent in attempts 1..k / all chains"), "survey practice"),
)
