"""Answering a box's "does my certificate still stand?" (:mod:`boxcert.wire.standing`).

One indexed statement (:func:`~boxcert.issuer.store.certificates.standing_facts`): the
subscription's code digest and the database's certificate with that serial. The credentials
are checked as for a certificate request (constant time; an unknown uuid and a wrong code
look the same) before anything about the certificate is said.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from boxcert.issuer.contract_codes import ContractCodes
from boxcert.issuer.db import run_in_session
from boxcert.issuer.eligibility import check
from boxcert.issuer.errors import Refusal
from boxcert.issuer.store import certificates
from boxcert.wire import RefusalCode
from boxcert.wire.refusals import REFUSALS
from boxcert.wire.standing import Standing, StandingAnswer, StandingQuery


async def answer(
    sessions: sessionmaker[Session], codes: ContractCodes, query: StandingQuery
) -> StandingAnswer:
    """The certificate's standing; raises Refusal when the credentials do not match."""
    digest = codes.digest(query.enterprise_code)
    found = await run_in_session(
        sessions, lambda s: certificates.standing_facts(s, query.db_uuid, query.serial)
    )
    stored_digest = found[0] if found is not None else None
    if not ContractCodes.same(digest, stored_digest) or not query.enterprise_code:
        verdict = check(None, digest, code_sent=False)  # the usual credentials refusal
        assert verdict.code is not None
        raise Refusal(verdict.code, verdict.message)
    assert found is not None
    cert = found[1]
    if cert is None:
        return StandingAnswer(query.serial, Standing.UNKNOWN)
    if cert.revoked_at is None:
        return StandingAnswer(query.serial, Standing.GOOD)
    code = cert.revocation_code or RefusalCode.CERTIFICATE_REVOKED.value
    message = cert.revocation_message or REFUSALS[RefusalCode.CERTIFICATE_REVOKED].remedy
    return StandingAnswer(query.serial, Standing.REVOKED, cert.revoked_at, code, message)
