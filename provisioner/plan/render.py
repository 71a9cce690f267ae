"""Plan renderers: colored text for terminals, Markdown for pull-request comments, JSON for tools.

All three format the same :class:`~provisioner.plan.types.Plan`; none can show a secret because
the plan never holds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from provisioner.plan.types import AppChange, CredentialChange, FieldChange, Plan

Styler = Callable[[str, str], str]

_SYMBOLS = {
    "create": "+",
    "update": "~",
    "rotate": "↻",
    "replace": "-/+",
    "delete": "-",
    "no-op": " ",
}
_COLORS = {
    "create": "green",
    "update": "yellow",
    "rotate": "cyan",
    "replace": "magenta",
    "delete": "red",
    "no-op": "white",
}


def plain(text: str, _color: str) -> str:
    """A styler that adds no color."""
    return text


def _value(v: str | None) -> str:
    return "(none)" if v is None else json.dumps(v, ensure_ascii=False)


def _field_line(change: FieldChange) -> str:
    before, after = change.shown()
    return f"      {change.field}: {_value(before)} -> {_value(after)}"


def _app_lines(change: AppChange, style: Styler) -> list[str]:
    head = f"  {_SYMBOLS[change.action]} {change.address}"
    detail = f"({change.app_type} {change.api_name} in org {change.org})"
    lines = [style(f"{head} {change.action} {detail}", _COLORS[change.action])]
    for reason in change.rotate_reasons:
        lines.append(f"      rotate: {reason}")
    if change.new_certificate:
        lines.append("      certificate: new key and certificate (private key: (sensitive))")
    if change.new_consumer_secret:
        before = "(none)" if change.action in ("create", "replace") else "(sensitive)"
        lines.append(f"      consumerSecret: {before} -> (sensitive)")
    lines.extend(_field_line(c) for c in change.changes)
    lines.extend(f"      note: {n}" for n in change.notes)
    return lines


def _credential_lines(change: CredentialChange, style: Styler) -> list[str]:
    record = f"record {change.record_id}" if change.record_id else "new record"
    head = f"  {_SYMBOLS[change.action]} {change.address}"
    lines = [style(f"{head} {change.action} ({change.type}, {record}, {change.sink} sink)",
                   _COLORS[change.action])]
    lines.extend(_field_line(c) for c in change.changes)
    if change.connection_status:
        lines.append(f"      connection: {change.connection_status}")
    if change.reconnect_required:
        lines.append("      reconnect: the client secret changes; a person must click Connect again")
    lines.extend(f"      note: {n}" for n in change.notes)
    return lines


def summary(plan: Plan) -> str:
    """One line: ``Plan: 1 to create, 2 to update, ...`` or ``No changes.``."""
    if not plan.has_changes:
        return "No changes. Salesforce and Workflow² match the specs."
    counts = plan.counts()
    parts = []
    for action in ("create", "update", "rotate", "replace", "delete"):
        n = counts.get(action, 0)
        if n:
            parts.append(f"{n} app(s) to {action}")
    for action in ("create", "update", "replace", "delete"):
        n = counts.get(f"credential {action}", 0)
        if n:
            parts.append(f"{n} credential(s) to {action}")
    return "Plan: " + ", ".join(parts) + "."


def render_text(plan: Plan, style: Styler = plain, *, show_unchanged: bool = False) -> str:
    """The human plan, one block per resource, unchanged ones hidden unless asked."""
    lines: list[str] = []
    for w in plan.warnings:
        lines.append(style(f"warning: {w}", "yellow"))
    apps = [a for a in plan.apps if show_unchanged or a.action != "no-op"]
    creds = [c for c in plan.credentials if show_unchanged or c.action != "no-op"]
    if apps:
        lines.append("Salesforce apps:")
        for a in apps:
            lines.extend(_app_lines(a, style))
    if creds:
        lines.append("Workflow² credentials:")
        for c in creds:
            lines.extend(_credential_lines(c, style))
    for c in plan.credentials:
        if c.action == "no-op" and c.connection_status and not show_unchanged:
            lines.append(f"  {c.address}: connection {c.connection_status}")
    for instance, url in plan.callback_urls:
        lines.append(f"OAuth callback URL of {instance}: {url}")
    lines.append(style(summary(plan), "bold"))
    return "\n".join(lines) + "\n"


# -- markdown: every value is spec- or org-controlled, so none is ever markup -----------------
#
# A pull-request comment is read rendered. A value such as ``CRM <!--`` would open an HTML
# comment that hides the rest of the row; ``[a@x.com](mailto:b@y.com)`` would show one address
# and mean another. So values and names go into code spans (literal in CommonMark: no HTML, no
# links, no emphasis) fenced by more backticks than they contain, and prose that embeds them
# (notes, reasons, warnings) has every markdown character backslash-escaped and ``& < >`` as
# entities. Pipes are escaped everywhere (GFM splits table cells on them, even in code spans),
# and line breaks are folded.

_MD_PUNCTUATION = frozenset("\\`*_{}[]()#+-.!|~:")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _flat(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def md_code(text: str, *, cell: bool = True) -> str:
    """``text`` as an inline code span that shows it literally, whatever it holds (``cell``:
    inside a GFM table cell, where a pipe must be escaped even in a code span)."""
    flat = _flat(text).replace("|", "\\|") if cell else _flat(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_text(text: str) -> str:
    """Prose shown literally: markdown punctuation escaped, ``& < >`` as entities."""
    out = []
    for ch in _flat(text):
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _md_value(v: str | None) -> str:
    return "(none)" if v is None else md_code(_value(v))


def _md_change(change: FieldChange) -> str:
    before, after = change.shown()
    return f"{md_code(change.field)}: {_md_value(before)} → {_md_value(after)}"


def render_markdown(plan: Plan) -> str:
    """A pull-request comment: a summary, a table of changes; every value shown literally."""
    out = ["### provisioner plan", "", f"**{summary(plan)}**", ""]
    for w in plan.warnings:
        out.append(f"> :warning: {md_text(w)}")
    rows = [a for a in plan.apps if a.action != "no-op"]
    crows = [c for c in plan.credentials if c.action != "no-op"]
    if rows or crows:
        out += ["| action | resource | details |", "|---|---|---|"]
        for a in rows:
            details = "; ".join(
                [*(f"rotate: {md_text(r)}" for r in a.rotate_reasons),
                 *(_md_change(c) for c in a.changes), *(md_text(n) for n in a.notes)]
            )
            out.append(f"| {a.action} | {md_code(a.address)} ({md_text(a.app_type)} "
                       f"{md_code(a.api_name)} in {md_code(a.org)}) | {details} |")
        for c in crows:
            details = "; ".join(
                [*(_md_change(f) for f in c.changes),
                 *(["reconnect required"] if c.reconnect_required else []),
                 *(md_text(n) for n in c.notes)]
            )
            out.append(f"| {c.action} | {md_code(c.address)} ({md_text(c.type)}) | {details} |")
        out.append("")
    for instance, url in plan.callback_urls:
        out.append(f"OAuth callback URL of {md_code(instance, cell=False)}: "
                   f"{md_code(url, cell=False)}")
    return "\n".join(out).rstrip() + "\n"


def render_json(plan: Plan) -> str:
    """The versioned JSON plan, stable key order, for machines and ``--out``."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
