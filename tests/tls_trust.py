"""For tests that talk to an embedded sandbox directly (not through a connection, which pins
the sandbox CA to itself): trust its CA without weakening trust in real hosts.

simple-salesforce's ``sf.mdapi`` talks SOAP through zeep, which builds its own
``requests.Session``; the only way to give that session a CA is the process environment
(``REQUESTS_CA_BUNDLE``, which requests reads on every request with ``verify=True``). Pointing the
variable at the sandbox CA alone would break verification of real Salesforce hosts in the same
run, so :func:`trust_ca` writes a combined bundle: the trust store in force before (the user's
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else certifi's, which requests depends on) plus every
extra CA registered in this process, and points the variable at it. Verification stays on.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from provisioner.errors import RemoteError

_lock = threading.Lock()
_extra: dict[Path, str] = {}
_base: str | None = None
_bundle: Path | None = None


def _base_bundle() -> str:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file() and Path(value) != _bundle:
            return value
    import certifi

    return str(certifi.where())


def trust_ca(ca_file: Path) -> Path:
    """Add ``ca_file`` to the process-wide bundle and point ``REQUESTS_CA_BUNDLE`` at it.

    Returns the bundle's path (pass it as ``verify=`` to requests calls made directly). Idempotent
    per CA file; the bundle is removed when the process exits.
    """
    global _base, _bundle
    try:
        pem = Path(ca_file).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise RemoteError(
            f"the sandbox CA certificate {ca_file} cannot be read ({type(exc).__name__})",
            "restart the sandbox or remove its state dir to regenerate its certificates",
        ) from exc
    with _lock:
        if _base is None:
            _base = _base_bundle()
        _extra[Path(ca_file).resolve()] = pem
        if _bundle is None:
            # Beside the first sandbox's CA (its private state dir), one per process, removed
            # at exit; a killed process's is rewritten by the next one with the same pid.
            _bundle = Path(ca_file).resolve().parent / f"trusted-bundle-{os.getpid()}.pem"
            atexit.register(_bundle.unlink, missing_ok=True)
        parts = [Path(_base).read_text(encoding="utf-8", errors="replace")]
        parts.extend(_extra.values())
        tmp = _bundle.with_suffix(".tmp")
        tmp.write_text("\n".join(p.strip() + "\n" for p in parts), encoding="utf-8")
        os.replace(tmp, _bundle)  # readers never see a half-written bundle
        os.environ["REQUESTS_CA_BUNDLE"] = str(_bundle)
        return _bundle


def base_bundle() -> Path | None:
    """The trust store the combined bundle starts from (None until :func:`trust_ca` ran)."""
    return Path(_base) if _base else None


def trusted_bundle() -> Path | None:
    """The combined bundle, when :func:`trust_ca` has been called in this process."""
    return _bundle
