"""Deterministic, bounded fault injection per endpoint.

A spec reads ``ENDPOINT:KIND[=VALUE][@QUALIFIER[,QUALIFIER]...]``:

- ENDPOINT: ``token``, ``userinfo``, ``soap`` (every Metadata API call), a SOAP operation name
  (``deploy``, ``checkDeployStatus``, ``readMetadata``, ``upsertMetadata``...) or ``*`` (all
  requests). ``connect`` is each new connection, before its TLS handshake: ``connect:latency=``
  charges what a handshake costs (a round trip or two), so a client that reuses connections
  saves it, as it would against Salesforce; ``*`` does not include it.
- KIND: ``latency=SECONDS`` (capped at 10 s), ``http500``..``http599``, ``drop`` (close the
  connection without answering), ``fail`` (a deploy that fails; elsewhere an HTTP 500), or a
  Salesforce exception code in capitals such as ``REQUEST_LIMIT_EXCEEDED`` or
  ``INVALID_SESSION_ID`` (a SOAP fault; on the OAuth endpoints an HTTP 403 error body).
- QUALIFIER: ``count=N`` (the first N matching requests), ``rate=R`` (each matching request with
  probability R, drawn from a generator seeded with the sandbox seed), ``max=M`` (at most M
  injections in all; default 100, and no limit for latency: a slow org stays slow). Without
  a qualifier a fault fires once, latency always.

Examples: ``token:latency=0.1``, ``soap:http500@rate=0.2``, ``soap:REQUEST_LIMIT_EXCEEDED@count=2``,
``deploy:fail``, ``*:drop@count=1``.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field

MAX_LATENCY = 10.0
DEFAULT_MAX = 100
#: The bound of a latency fault without ``max``: latency is a condition, not an incident.
UNLIMITED = 2 ** 62
_SPEC = re.compile(r"^(?P<endpoint>\*|[A-Za-z]+):(?P<kind>[A-Za-z_0-9]+)(?:=(?P<value>[0-9.]+))?"
                   r"(?:@(?P<quals>[a-z]+=[0-9.]+(?:,[a-z]+=[0-9.]+)*))?$")


@dataclass(frozen=True)
class FaultSpec:
    """One fault rule (see the module docstring for the text syntax)."""

    endpoint: str
    kind: str
    value: float | None = None
    rate: float | None = None
    count: int | None = None
    max_injections: int = DEFAULT_MAX

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``ENDPOINT:KIND[=VALUE][@count=N|@rate=R][,max=M]``; ValueError if malformed."""
        match = _SPEC.match(text.strip())
        if not match:
            raise ValueError(f"bad fault spec {text!r}: expected ENDPOINT:KIND[=VALUE][@count=N|"
                             "@rate=R][,max=M], e.g. soap:http500@rate=0.2")
        kind, value = match["kind"], match["value"]
        if kind == "latency" and value is None:
            raise ValueError(f"bad fault spec {text!r}: latency needs seconds, e.g. latency=0.2")
        if not (kind in {"latency", "drop", "fail"} or re.fullmatch(r"http5\d\d", kind)
                or re.fullmatch(r"[A-Z][A-Z_]+", kind)):
            raise ValueError(f"bad fault spec {text!r}: unknown kind {kind!r}")
        quals = dict(q.split("=") for q in (match["quals"] or "").split(",") if q)
        unknown = set(quals) - {"count", "rate", "max"}
        if unknown:
            raise ValueError(f"bad fault spec {text!r}: unknown qualifier {sorted(unknown)[0]}")
        rate = float(quals["rate"]) if "rate" in quals else None
        count = int(float(quals["count"])) if "count" in quals else None
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"bad fault spec {text!r}: rate must be between 0 and 1")
        if rate is None and count is None:
            rate, count = (1.0, None) if kind == "latency" else (None, 1)
        return cls(match["endpoint"], kind, float(value) if value else None, rate, count,
                   int(float(quals["max"])) if "max" in quals
                   else UNLIMITED if kind == "latency" else DEFAULT_MAX)

    def matches(self, endpoint: str, operation: str) -> bool:
        """Whether this rule concerns a request to ``endpoint`` doing ``operation``."""
        if endpoint == "connect":
            return self.endpoint == "connect"
        return self.endpoint in {"*", endpoint, operation}

    def __str__(self) -> str:
        value = f"={self.value:g}" if self.value is not None else ""
        qual = f"count={self.count}" if self.count is not None else f"rate={self.rate:g}"
        return f"{self.endpoint}:{self.kind}{value}@{qual},max={self.max_injections}"


@dataclass
class _Counter:
    seen: int = 0
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random)


class FaultInjector:
    """Decides, in request order and under a lock, which faults hit a request."""

    def __init__(self, specs: tuple[FaultSpec, ...], seed: int) -> None:
        self.specs = specs
        self._lock = threading.Lock()
        self._state = [_Counter(rng=random.Random(seed * 1000 + i)) for i in range(len(specs))]

    def pick(self, endpoint: str, operation: str) -> list[FaultSpec]:
        """The faults to apply to this request (each bounded by count/max)."""
        hits: list[FaultSpec] = []
        with self._lock:
            for spec, st in zip(self.specs, self._state, strict=False):
                if not spec.matches(endpoint, operation) or st.injected >= spec.max_injections:
                    continue
                st.seen += 1
                if spec.count is not None:
                    fire = st.seen <= spec.count
                else:
                    fire = st.rng.random() < (spec.rate or 0.0)
                if fire:
                    st.injected += 1
                    hits.append(spec)
        return hits

    def injected(self) -> int:
        """How many faults fired so far (tests assert on the bound)."""
        with self._lock:
            return sum(st.injected for st in self._state)
