"""harness: a mystery-shopper test-call harness.

Places scripted SIP test calls, records what the caller hears, times every phase,
classifies each call and writes tamper-evident evidence.
"""

__version__ = "0.1.0"
