"""The sandbox: an HTTPS Salesforce org emulator on 127.0.0.1 for tests and the quick start.

It speaks the OAuth token endpoint (JWT bearer with real RS256 checks, refresh token, password
for the deploy user), userinfo, and the Metadata API over SOAP for Connected Apps and External
Client Apps, persisting its org in a state dir. See :class:`SandboxServer`.
"""

from .faults import FaultSpec
from .org import Org
from .server import DeployCredentials, SandboxOptions, SandboxServer, default_state_dir

__all__ = ["DeployCredentials", "FaultSpec", "Org", "SandboxOptions", "SandboxServer", "default_state_dir"]
