"""The Salesforce adapter: sign-in, Metadata API reads and deploys, JWT login verification.

This package is the only place that talks to Salesforce (or the embedded sandbox org). It imports
simple-salesforce and zeep lazily, inside functions, so importing it stays cheap, and it converts
every vendor exception into :class:`~provisioner.errors.AuthError`,
:class:`~provisioner.errors.RemoteError` or :class:`~provisioner.errors.VerificationError` naming
the org, the operation and the fix.

Modules:

- :mod:`.auth`: OAuth token exchanges (JWT bearer, refresh token from an sfdx auth URL, a given
  access token) and the mapping of Salesforce's token-endpoint errors to precise hints.
- :mod:`.connection`: :func:`connect` an org (or start the embedded sandbox), one session per run,
  retries and a single re-login on ``INVALID_SESSION_ID``.
- :mod:`.endpoints`: the one rule for token URLs and JWT audiences.
- :mod:`.reader`: reads both app types in batches of ten; orgs in parallel.
- :mod:`.deploy`: one Metadata API deploy, polled with backoff, with structured failures.
- :mod:`.verify`: a real JWT bearer exchange retried through Salesforce's propagation delay.
"""
