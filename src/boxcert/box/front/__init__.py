"""The box's front: its HTTPS server, its homepage, and the nginx alternative.

The front talks to the box agent only through :class:`~boxcert.box.front.backend.FrontBackend`
(status, debounced checks, the pair's paths, the "installed" event, the credentials).

Built-in front (``run_front`` in :mod:`.server`), one asyncio loop, two listeners:

- :mod:`.tlsprofile` — Mozilla "intermediate" TLS settings, ALPN http/1.1.
- :mod:`.placeholder` — the self-signed placeholder, made on the box, key 0600.
- :mod:`.certswitch` — the served pair, swapped per handshake (``sni_callback``).
- :mod:`.app` — own pages vs. upstream, plain-HTTP redirect, HSTS.
- :mod:`.ownpages` — homepage, ``/status.json``, Refresh, error-code pages, stylesheet;
  :mod:`.homepage` — what the homepage says, as a pure function; :mod:`.errorpages` — the
  ``docs/errors`` pages rendered from the package's copy.
- :mod:`.credentials` — login and the credentials page; :mod:`.password`, :mod:`.sessions`,
  :mod:`.visitor`, :mod:`.headers`, :mod:`.pages` — small private stand-ins for the shared
  ``boxcert.web`` / ``boxcert.secrets`` helpers.
- :mod:`.proxy` — the reverse proxy (HTTP streamed both ways, websockets).

nginx front: :mod:`.nginx` writes the box's site file, tests, reloads, rolls back.

A standalone runner for the demo and benchmarks: ``python -m boxcert.box.front --help``.
"""
