"""The pull-request comment shows every spec- and org-controlled value as literal text.

Rendered with a CommonMark renderer with GFM tables and raw HTML on (markdown-it-py, as a code
host renders a comment), then read as a person sees it: no value may become an HTML comment, a
link, or markup, and each must appear, character for character, in the visible text.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

from provisioner.engine.planner import make_plan
from provisioner.plan.render import md_code, md_text, render_markdown
from tests.planner.builder import app_doc, converged

HOSTILE_LABEL = "CRM <!--"
HOSTILE_DESCRIPTION = "--> [ops@acme.example](mailto:attacker@evil.example) *bold* | `x` &amp;"
HIDDEN_EMAIL = "attacker@evil.example"


class Seen(HTMLParser):
    """The text a reader sees, and the markup that would hide or disguise it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.comments: list[str] = []
        self.tags: set[str] = set()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def _seen(markdown: str) -> Seen:
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    seen = Seen()
    seen.feed(html)
    return seen


def test_hostile_values_stay_visible_text(tmp_path: Path) -> None:
    doc = app_doc(label=f"'{HOSTILE_LABEL}'").replace(
        "  contactEmail:", f"  description: '{HOSTILE_DESCRIPTION}'\n  contactEmail:")
    s = converged(tmp_path, doc).with_live(
        label="CRM", description=None, contact_email=HIDDEN_EMAIL)
    markdown = render_markdown(make_plan(s.inputs()), commit="abc123`<!--")
    seen = _seen(markdown)
    visible = "".join(seen.text)
    # The only comment is the marker a pipeline finds its comment by; nothing became a link,
    # emphasis or an image.
    assert seen.comments == [" provisioner-plan:all "]
    assert not seen.tags & {"a", "em", "strong", "img"} - {"strong"}
    for value in (HOSTILE_LABEL, HOSTILE_DESCRIPTION, HIDDEN_EMAIL, "integrations@acme.example"):
        assert f'"{value}"' in visible, value
    assert "abc123`<!--" in visible  # the header's commit, literal too
    # Each changed field is one - line and one + line of the app's diff: nothing swallowed
    # the contactEmail change's neighbours.
    assert visible.count('+ contactEmail: "integrations@acme.example"') == 1
    assert visible.count(f'- contactEmail: "{HIDDEN_EMAIL}"') == 1
    assert visible.count(f'+ description: "{HOSTILE_DESCRIPTION}"') == 1
    assert seen.tags >= {"details", "summary", "pre", "code"}


def test_the_comment_has_a_header_a_marker_and_one_details_per_resource(tmp_path: Path) -> None:
    s = converged(tmp_path).without_live().without_state()
    markdown = render_markdown(make_plan(s.inputs()), commit="0123456789ab")
    lines = markdown.splitlines()
    assert lines[0] == "<!-- provisioner-plan:all -->"
    assert "| commit | `0123456789ab` |" in lines and "| orgs | `prod` |" in lines
    assert "| state | serial 3, lineage `lineage-1` |" in lines
    assert markdown.count("<details>") == markdown.count("</details>") == 3  # app + 2 records
    visible = "".join(_seen(markdown).text)
    assert "+ consumerKey: generated at apply" in visible
    assert "+ consumerSecret: generated at apply (sensitive)" in visible
    assert "+ certificate: new key pair and certificate" in visible


def _cell(markdown: str) -> Seen:
    return _seen(f"| x |\n|---|\n| {markdown} |\n")


def test_escapers_round_trip_through_a_renderer() -> None:
    for value in ["a|b", "``x``", "`", "<!-- -->", "[x](y)", "\\*", "a\nb", "&lt;", "x"]:
        shown = value.replace("\n", " ")
        code = _cell(md_code(value))
        assert "".join(code.text).replace("\n", "") == f"x{shown}", value
        prose = _cell(md_text(value))
        assert "".join(prose.text).replace("\n", "") == f"x{shown}", value
        if "|" not in value:
            assert "".join(_seen(md_code(value, cell=False)).text).strip() == shown.strip()
        assert prose.comments == code.comments == []
