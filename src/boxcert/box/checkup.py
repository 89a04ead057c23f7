"""One look at the box's settings and pair, and the status made from it: pure but for reading
the pair (no network, no clock: the caller gives ``now``).

:func:`check_pair` reads the pair and judges it with :func:`boxcert.box.verdict.inspect` in the
zone the box knows (:func:`boxcert.box.issuerinfo.zone_of`); :func:`compose` is the one place a
:class:`~boxcert.box.status.BoxStatus` is made, from a check, the last attempt and what the box
remembers besides (:class:`Known`: its issuer's zone, its clock, its deploy hook).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cryptography import x509

from boxcert import codes, pki
from boxcert.box import pair as pairs
from boxcert.box.clockstate import ClockState
from boxcert.box.config import BoxConfig
from boxcert.box.errors import BoxError, BoxFileError, LoadError
from boxcert.box.files import BoxPaths
from boxcert.box.hook import HookRun
from boxcert.box.identity import BoxIdentity, identify
from boxcert.box.issuerinfo import IssuerFacts, zone_of
from boxcert.box.state import LastAttempt
from boxcert.box.status import BoxStatus, CertificateInfo, CertState
from boxcert.box.verdict import inspect


@dataclass(frozen=True, slots=True)
class Check:
    """One look at the settings and the pair."""

    state: CertState
    error: codes.ErrorCode | None
    detail: str
    repairable: bool = False  # a new certificate fixes the error (a damaged cert.pem)
    key: pki.PrivateKey | None = None
    chain: list[x509.Certificate] | None = None
    identity: BoxIdentity | None = None
    renew_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Known:
    """What the box remembers besides the pair: its issuer's zone, its clock, the last hook."""

    facts: IssuerFacts | None
    clock: ClockState | None
    hook: HookRun | None


def compose(check: Check, attempt: LastAttempt | None, *, fresh: bool, known: Known) -> BoxStatus:
    """The one place a BoxStatus is made from a check, the last attempt and what is known.

    ``fresh``: the attempt was made just now (``ensure``); its failure is the status as it is.
    Otherwise (``status``) a failed attempt explains a certificate that still needs a refresh.
    A clock known to be wrong is the status's error whatever else is (its code and remedy
    first; another failure follows in the detail).
    """
    state, error, detail = check.state, check.error, check.detail
    suffix, refusal, advice = "", None, None
    if attempt is not None and not attempt.ok and (fresh or check.state is CertState.NEED_REFRESH):
        state, error, suffix, refusal, advice = (
            CertState.ERROR,
            attempt.code,
            attempt.suffix,
            attempt.refusal,
            attempt.advice,
        )
        detail = attempt.detail
        if not fresh:
            detail += f" (last attempt {attempt.at.isoformat()}; {check.detail.lower()})"
    status = BoxStatus(
        state=state,
        error=error,
        detail=detail,
        certificate=CertificateInfo.of(check.chain) if check.chain else None,
        url=check.identity.url if check.identity else None,
        error_suffix=suffix,
        refusal=refusal,
        checked_at=attempt.at if attempt is not None else None,
        renew_at=check.renew_at,
        advice=advice,
        clock=known.clock,
        hook=known.hook,
    )
    clock = known.clock
    if clock is not None and clock.wrong and status.error is not codes.CHECK_CLOCK_SKEW:
        status = replace(
            status,
            state=CertState.ERROR,
            error=codes.CHECK_CLOCK_SKEW,
            error_suffix="",
            refusal=None,
            advice=None,
            detail=clock_detail(clock, status.detail if status.error else ""),
        )
    return status


def also(err: BoxError, check: Check) -> BoxError:
    """``err``, saying too what a repairable check found (a damaged cert.pem)."""
    if check.repairable and isinstance(err, LoadError):
        err.detail += f" (also: {check.detail})"
    return err


def clock_detail(clock: ClockState, also: str) -> str:
    return clock.check.summary + (f" Also: {also}" if also else "")


def check_pair(
    paths: BoxPaths, config: BoxConfig, now: datetime, facts: IssuerFacts | None
) -> Check:
    """The settings and the pair judged at ``now``, in the zone the box knows."""
    if not config.server:
        return Check(CertState.ERROR, codes.CHECK_NO_SERVER, "No server is configured on this box.")
    read_error = codes.CHECK_CERT_READ_EXCEPTION
    try:
        files = pairs.read_pair(paths)
    except BoxFileError as err:
        if err.path == paths.key:
            return Check(CertState.ERROR, read_error, f"key file {err}")
        if err.path == paths.cert:
            return Check(CertState.ERROR, read_error, f"certificate file {err}", True)
        raise
    key = None
    if files.key_pem is not None:
        try:
            key = pairs.parse_key(files.key_pem)
        except pki.PemError as err:
            return Check(CertState.ERROR, read_error, f"key file {paths.key}: {err}")
    chain = None
    if files.cert_pem is not None:
        try:
            chain = pairs.parse_chain(files.cert_pem)
        except pki.PemError as err:
            return Check(CertState.ERROR, read_error, f"certificate file {paths.cert}: {err}", True)
    zone = zone_of(config, facts)
    identity = identify(key, config, zone) if key is not None else None
    return verdict_of(key, chain, identity, now)


def verdict_of(
    key: pki.PrivateKey | None,
    chain: list[x509.Certificate] | None,
    identity: BoxIdentity | None,
    now: datetime,
) -> Check:
    """The pair's verdict at ``now`` as a check."""
    verdict = inspect(chain, key, identity.names if identity else None, now)
    state = CertState.OK if verdict.ok else CertState.NEED_REFRESH
    return Check(state, None, verdict.detail, False, key, chain, identity, verdict.renew_at)
