"""The box agent: its own key, the certificate check, loading, atomic install, status.

Modules, from the bottom up:

- :mod:`~boxcert.box.errors` — ``BoxError`` and its subclasses (ConfigError, BoxFileError,
  BusyError, LoadError).
- :mod:`~boxcert.box.files` — the files under the box's home; bounded reads of regular files.
- :mod:`~boxcert.box.lock` — file locks taken with a timeout.
- :mod:`~boxcert.box.config` — ``BoxConfig``, checked field by field when loaded.
- :mod:`~boxcert.box.state` — the last attempt's outcome (``state.json``), as data.
- :mod:`~boxcert.box.pair` — key and chain read and replaced as one pair, safe against kill -9.
- :mod:`~boxcert.box.verdict` — ``inspect(chain, key, names, now)``: the pure verdict.
- :mod:`~boxcert.box.identity` — label, names, LAN address and URL of the box.
- :mod:`~boxcert.box.deadline`, :mod:`~boxcert.box.transport` — a request under one
  deadline, TLS verified, failures by kind; :mod:`~boxcert.box.client` — the exchange with the
  issuer.
- :mod:`~boxcert.box.issuerinfo` — the issuer's facts (``GET /iot/info``: its zone) and the box's
  zone; :mod:`~boxcert.box.clockstate` — the clock's last judgement and the time the box decides
  by; :mod:`~boxcert.box.contact` — reading both before the box asks the issuer anything.
- :mod:`~boxcert.box.install` — validating a delivered certificate before anything is written.
- :mod:`~boxcert.box.advice` — the remedy that fits the cause, and the words every surface shows.
- :mod:`~boxcert.box.status` — ``BoxStatus`` and the ``StatusHolder`` with its events.
- :mod:`~boxcert.box.checkup` — one look at settings and pair, and the status made from it.
- :mod:`~boxcert.box.hook` — the deploy hook; :mod:`~boxcert.box.observer`,
  :mod:`~boxcert.box.metrics` — what the agent counts, as Prometheus metrics.
- :mod:`~boxcert.box.schedule`, :mod:`~boxcert.box.wake` — when to check next; the wait that a
  request or a settings change cuts short.
- :mod:`~boxcert.box.agent` — ``BoxAgent``: ``status()``, ``ensure()``, ``run()``;
  :mod:`~boxcert.box.questions` — its exchanges with the issuer (a certificate, its standing).
- :mod:`~boxcert.box.hubclient`, :mod:`~boxcert.box.hublink` — pairing with the hub by token,
  and what the box knows of that link; :mod:`~boxcert.box.reporter` — reports to the hub.
- :mod:`~boxcert.box.front` — the HTTPS front and the homepage (web stack: imported only by
  ``box run``); :mod:`~boxcert.box.runner` — ``box run``: agent, reporter and front together.
- :mod:`~boxcert.box.diagnosis` — DNS and clock judgements and probes;
  :mod:`~boxcert.box.dnscheck` — the box's own DNS diagnosis and the homepage's background
  watch; :mod:`~boxcert.box.connection` — ``check-connection``'s probes.
- :mod:`~boxcert.box.cli`, :mod:`~boxcert.box.cli_checks` — ``boxcert box …``.

What a front or a hub report uses: ``BoxAgent(paths)``; ``agent.holder.subscribe(listener)``
for ``Installed(pair)`` and ``StatusChanged(status, previous)``; ``agent.request_check()`` for
"renew now"; ``agent.configure(**changes)`` for settings; ``pair.load_pair(paths)`` for the pair
to serve at start-up. The agent imports no issuer, database or web stack (the front, which
``box run`` starts, is the only part that uses the web stack).
"""
