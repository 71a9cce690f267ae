"""The JSON Schema validator provisioner uses for every document it checks (specs, state).

JSON Schema's ``pattern`` keyword uses the ECMA-262 regex dialect, where ``$`` matches only at
the very end of the string. Python's ``re`` also lets ``$`` match before a final newline, so with
jsonschema's own ``pattern`` check ``"billing\\n"`` passes ``^[a-z][a-z0-9-]*$``: a name that
validates, then fails a deploy with component errors. :func:`validator` checks patterns with a
trailing ``$`` anchored at the true end (``\\Z``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, cast

from jsonschema import Draft202012Validator, ValidationError, validators


@cache
def _anchored(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
             ) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_STRICT: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern})


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for ``schema`` with end-anchored patterns."""
    return cast(Draft202012Validator, _STRICT(schema))


__all__ = ["validator"]
