"""The issuer's answer to "does my certificate still stand?" (boxcert.issuer.standing),
through the real app: credentials first, then good, revoked (with the cause) or unknown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from cryptography import x509

from boxcert.issuer.app import create_app
from boxcert.issuer.revocation import Cause
from boxcert.issuer.store import certificates
from boxcert.wire import RefusalCode
from boxcert.wire.standing import STANDING_PATH, StandingQuery
from tests.issuer_support import box_request, make_issuer


async def test_standing_answers(tmp_path: Path) -> None:
    issuer = make_issuer(tmp_path)
    issuer.register("db-s", "C-STANDING-0001")
    issuer.register("db-t", "C-STANDING-0002")
    grant = await issuer.service.handle(box_request("db-s", "C-STANDING-0001"))
    serial = format(x509.load_pem_x509_certificate(grant.x509_pem.encode()).serial_number, "x")
    transport = httpx.ASGITransport(app=create_app(issuer.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer.test") as client:

        async def ask(db: str, code: str, serial_hex: str) -> dict[str, object]:
            answer = await client.post(
                STANDING_PATH, json=StandingQuery(db, code, serial_hex).to_json()
            )
            assert answer.status_code == 200
            result: dict[str, object] = answer.json()["result"]
            return result

        assert await ask("db-s", "C-STANDING-0001", serial) == {
            "serial": serial,
            "standing": "good",
        }
        assert (await ask("db-s", "C-STANDING-0001", "abc"))["standing"] == "unknown"
        # another database's certificate is unknown to this one
        assert (await ask("db-t", "C-STANDING-0002", serial))["standing"] == "unknown"
        wrong = await ask("db-s", "C-STANDING-0002", serial)
        unknown_db = await ask("db-x", "C-STANDING-0001", serial)
        assert wrong == unknown_db
        assert wrong["error"]["code"] == "credentials_not_recognized"  # type: ignore[index]

        with issuer.sessions.begin() as s:
            [stored] = certificates.by_serial(s, serial)
        await issuer.service.revoker.revoke_certificate(
            stored,
            reason=x509.ReasonFlags.cessation_of_operation,
            cause=Cause(RefusalCode.NO_IOT_BOX_LINE, "The subscription has no line."),
            actor="lifecycle",
        )
        revoked = await ask("db-s", "C-STANDING-0001", serial)
        assert revoked["standing"] == "revoked" and revoked["revoked_at"]
        assert revoked["reason"] == {
            "code": "no_iot_box_line",
            "message": "The subscription has no line.",
        }
        bad = await client.post(STANDING_PATH, json={"params": {"db_uuid": "db-s"}})
        assert bad.status_code == 400
        garbage = await client.post(STANDING_PATH, content=b"\xff\xfe")
        assert garbage.status_code == 400
    await asyncio.to_thread(issuer.service.close)
