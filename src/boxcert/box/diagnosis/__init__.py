"""What stands between the user and the padlock, found from the box: its name not resolving on
the LAN (DNS-rebinding protection, a stale address, a resolver or zone down) and its clock.

Policy apart from mechanism: :mod:`.dns_verdict` and :mod:`.clock` decide from observations
(pure functions, tested against tables); :mod:`.dns_probe` and :mod:`.clock_probe` observe
(DNS queries, the issuer's ``Date`` header, SNTP). The texts a shop owner reads are in
:mod:`boxcert.codes` with the error codes, so the CLI, the homepage and the docs say the same.
"""
