"""Plan renderers: colored text for terminals, Markdown for pull-request comments, JSON for tools.

All three format the same :class:`~provisioner.plan.types.Plan`; none can show a secret because
the plan never holds one.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from provisioner.plan.types import AppChange, CredentialChange, FieldChange, Plan
from provisioner.textsafety import visible

Styler = Callable[[str, str], str]

_SYMBOLS = {
    "create": "+",
    "update": "~",
    "rotate": "↻",
    "replace": "-/+",
    "delete": "-",
    "retire": "⊘",
    "no-op": " ",
}
_COLORS = {
    "create": "green",
    "update": "yellow",
    "rotate": "cyan",
    "replace": "magenta",
    "delete": "red",
    "retire": "cyan",
    "no-op": "white",
}


def plain(text: str, _color: str) -> str:
    """A styler that adds no color."""
    return text


def _value(v: str | None) -> str:
    return "(none)" if v is None else visible(json.dumps(v, ensure_ascii=False))


def _field_line(change: FieldChange) -> str:
    before, after = change.shown()
    return f"      {change.field}: {_value(before)} -> {_value(after)}"


def pair_line(change: AppChange) -> str | None:
    """``blue/green: green side, standby -> active (...)`` for an app of a pair."""
    if change.pair_side is None:
        return None
    role = change.pair_role or "standby"
    after = change.pair_role_after or role
    moves = role if role == after else f"{role} -> {after}"
    return f"blue/green: {change.pair_side} side, {moves} (the JWT credentials use the active side)"


def _certificate_lines(change: AppChange) -> list[str]:
    out = []
    if change.new_certificate:
        out.append("certificate: new key and certificate (private key: (sensitive))")
    if change.retired_certificate:
        when = ("after the JWT credentials switched and passed Workflow²'s test"
                if change.after_records else "in this deploy")
        out.append(f"certificate: retired {when} (a certificate whose key is thrown away)")
    if change.revoke_first:
        out.append("window: the old key is revoked first; logins fail until Workflow² holds "
                   "the new key")
    return out


def _app_lines(change: AppChange, style: Styler) -> list[str]:
    head = f"  {_SYMBOLS[change.action]} {change.address}"
    detail = f"({change.app_type} {change.api_name} in org {change.org})"
    lines = [style(f"{head} {change.action} {detail}", _COLORS[change.action])]
    pair = pair_line(change)
    if pair:
        lines.append(f"      {pair}")
    for reason in change.rotate_reasons:
        lines.append(f"      rotate: {visible(reason)}")
    lines.extend(f"      {line}" for line in _certificate_lines(change))
    if change.new_consumer_secret:
        before = "(none)" if change.action in ("create", "replace") else "(sensitive)"
        lines.append(f"      consumerSecret: {before} -> (sensitive)")
    lines.extend(_field_line(c) for c in change.changes)
    lines.extend(f"      note: {visible(n)}" for n in change.notes)
    return lines


def _credential_lines(change: CredentialChange, style: Styler) -> list[str]:
    record = f"record {change.record_id}" if change.record_id else "new record"
    head = f"  {_SYMBOLS[change.action]} {change.address}"
    lines = [style(f"{head} {change.action} ({change.type}, {record}, {change.sink} sink)",
                   _COLORS[change.action])]
    if change.uses_app and change.uses_app != change.app:
        lines.append(f"      uses: app.{change.uses_app} (blue/green: the active side)")
    lines.extend(_field_line(c) for c in change.changes)
    if change.connection_status:
        lines.append(f"      connection: {change.connection_status}")
    if change.reconnect_required:
        lines.append("      reconnect: the client secret changes; a person must click Connect again")
    lines.extend(f"      note: {visible(n)}" for n in change.notes)
    return lines


def summary(plan: Plan) -> str:
    """One line: ``Plan: 1 to create, 2 to update, ...`` or ``No changes.``."""
    if not plan.has_changes:
        return "No changes. Salesforce and Workflow² match the specs."
    counts = plan.counts()
    parts = []
    for action in ("create", "update", "rotate", "retire", "replace", "delete"):
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
        lines.append(style(f"warning: {visible(w)}", "yellow"))
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
    flat = visible(_flat(text))
    flat = flat.replace("|", "\\|") if cell else flat
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_text(text: str) -> str:
    """Prose shown literally: markdown punctuation escaped, ``& < >`` as entities."""
    out = []
    for ch in visible(_flat(text)):
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


#: The hidden first line of every comment: a pipeline finds its previous comment by it and
#: updates that one instead of adding another (one per target: ``all`` or the ``--org`` names).
MARKER_PREFIX = "<!-- provisioner-plan:"


def comment_marker(plan: Plan) -> str:
    """The comment's hidden marker (org names are ``metadata.name`` values; anything outside
    ``[A-Za-z0-9._,-]`` is dropped, and so is ``--``, so the comment cannot be closed early)."""
    orgs = ",".join(plan.target_orgs) if plan.target_orgs else "all"
    safe = re.sub(r"[^A-Za-z0-9._,-]", "", orgs).replace("--", "-")
    return f"{MARKER_PREFIX}{safe} -->"


def _html(text: str) -> str:
    return html.escape(visible(_flat(text)), quote=True)


def _fence(lines: list[str]) -> str:
    """A fence longer than any backtick run in ``lines`` (so none of them can close it)."""
    longest = max((len(r) for line in lines for r in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


def _diff_block(lines: list[str]) -> list[str]:
    fence = _fence(lines)
    return [f"{fence}diff", *(visible(_flat(line)) for line in lines), fence]


def _value_line(sign: str, name: str, value: str | None) -> str:
    return f"{sign} {name}: {'(none)' if value is None else _value(value)}"


def _app_diff(a: AppChange) -> list[str]:
    out: list[str] = []
    pair = pair_line(a)
    if pair:
        out.append(f"# {pair}")
    for reason in a.rotate_reasons:
        out.append(f"! rotate: {reason}")
    if a.new_certificate:
        out.append("+ certificate: new key pair and certificate (private key: sensitive)")
    for line in _certificate_lines(a)[1 if a.new_certificate else 0:]:
        out.append(("! " if line.startswith("window") else "+ ") + line)
    if a.action in ("create", "replace"):
        out.append("+ consumerKey: generated at apply")
    if a.new_consumer_secret:
        out.append("+ consumerSecret: " + ("generated at apply (sensitive)"
                                          if a.action in ("create", "replace")
                                          else "generated by Salesforce, read back (sensitive)"))
    out += _field_diff(a.changes)
    out += [f"# note: {n}" for n in a.notes]
    return out


def _field_diff(changes: tuple[FieldChange, ...]) -> list[str]:
    """``- field: before`` / ``+ field: after`` for each change (a side that is none is left out)."""
    out: list[str] = []
    for c in changes:
        before, after = c.shown()
        if before is not None:
            out.append(_value_line("-", c.field, before))
        if after is not None:
            out.append(_value_line("+", c.field, after))
    return out


def _credential_diff(c: CredentialChange) -> list[str]:
    out = [f"# uses: app.{c.uses_app} (blue/green: the active side)"] if (
        c.uses_app and c.uses_app != c.app) else []
    out += _field_diff(c.changes)
    if c.reconnect_required:
        out.append("! reconnect: the client secret changes; a person must click Connect again")
    out += [f"# note: {n}" for n in c.notes]
    return out


def _details(summary_html: str, lines: list[str]) -> list[str]:
    body = _diff_block(lines) if lines else ["(no field changes)"]
    return ["<details>", f"<summary>{summary_html}</summary>", "", *body, "", "</details>", ""]


def render_markdown(plan: Plan, *, commit: str | None = None) -> str:
    """A pull-request comment: a hidden marker, a header (commit, orgs, state serial), the
    summary, then one collapsible diff per resource. Every spec- or org-controlled value is
    literal: in fenced blocks (longer fences than any backtick run they hold), HTML-escaped in
    summaries, and escaped prose elsewhere."""
    orgs = sorted({a.org for a in plan.apps})
    out = [comment_marker(plan), "### provisioner plan", ""]
    header = [("commit", md_code(commit) if commit else "(unknown)"),
              ("orgs", ", ".join(md_code(o) for o in orgs) if orgs else "(none)"),
              ("state", f"serial {plan.state_serial}"
               + (f", lineage {md_code(plan.state_lineage)}" if plan.state_lineage else ""))]
    out += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in header), ""]
    out += [f"**{summary(plan)}**", ""]
    for w in plan.warnings:
        out.append(f"> :warning: {md_text(w)}")
    if plan.warnings:
        out.append("")
    for a in plan.apps:
        if a.action == "no-op":
            continue
        title = (f"{_html(a.action)} <code>{_html(a.address)}</code> ({_html(a.app_type)} "
                 f"<code>{_html(a.api_name)}</code> in <code>{_html(a.org)}</code>)")
        out += _details(title, _app_diff(a))
    for c in plan.credentials:
        if c.action == "no-op":
            continue
        title = f"{_html(c.action)} <code>{_html(c.address)}</code> ({_html(c.type)})"
        out += _details(title, _credential_diff(c))
    for instance, url in plan.callback_urls:
        out.append(f"OAuth callback URL of {md_code(instance, cell=False)}: "
                   f"{md_code(url, cell=False)}")
    return "\n".join(out).rstrip() + "\n"


def render_json(plan: Plan) -> str:
    """The versioned JSON plan, stable key order, for machines and ``--out``."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
