"""The box's front: its HTTPS server, its homepage, and the nginx alternative.

The front talks to the box agent only through :class:`~boxcert.box.front.backend.FrontBackend`
(status, debounced checks, the pair's paths, the "installed" event, the credentials, pairing),
which :class:`~boxcert.box.front.backend.AgentBackend` implements over the agent of ``boxcert
box run`` (:mod:`boxcert.box.runner`).

Built-in front (``run_front`` in :mod:`.server`, on :func:`boxcert.httpserver.serve`), one
asyncio loop, two listeners:

- :mod:`.tlsprofile` — Mozilla "intermediate" TLS settings, ALPN http/1.1.
- :mod:`.placeholder` — the self-signed placeholder, made on the box, key 0600.
- :mod:`.certswitch` — the served pair, swapped per handshake (``sni_callback``).
- :mod:`.app` — own pages vs. upstream, plain-HTTP redirect, HSTS; the own pages are a
  :mod:`boxcert.web` site (sessions, CSRF, login, headers, the shared templates and stylesheet).
- :mod:`.ownpages` — homepage, ``/status.json``, Refresh, pairing form, help pages,
  ``/box/metrics``, ``/box/ping`` and the DNS check's script; :mod:`.homepage` — what the
  homepage says (certificate, DNS and hub rows, the browser check), as pure functions;
  :mod:`.errorpages` — the help pages (``/box/errors/…``, ``/box/diagnosis/…``) rendered from
  the package's copy.
- :mod:`.credentials` — the credentials page and the password change; :mod:`.password` — the
  box password (hashed by :mod:`boxcert.secrets`), the site's one account.
- :mod:`.proxy` — the reverse proxy (HTTP streamed both ways, websockets).

nginx front: :mod:`.nginx` writes the box's site file, tests, reloads, rolls back.
"""
