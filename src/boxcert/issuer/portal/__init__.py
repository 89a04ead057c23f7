"""The customer portal on the issuer: see :mod:`.app` (routes), :mod:`.pages` (what each page
shows) and :mod:`.accounts` (logins and sessions)."""
