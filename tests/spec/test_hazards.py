"""YAML and file hazards: each gets one clear error with a position, and nothing blows up."""

from __future__ import annotations

import time
from pathlib import Path

from provisioner.spec import check_paths
from provisioner.spec.reader import MAX_FILE_BYTES

ORG = "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata:\n  name: {name}\nspec:\n  sandbox: {{}}\n"


def _only_error(path: Path) -> str:
    result = check_paths([path])
    assert result.desired is None
    assert len(result.errors) == 1, [p.format() for p in result.problems]
    return result.errors[0].format()


def test_binary_file(tmp_path: Path) -> None:
    f = tmp_path / "blob.yaml"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert (
        _only_error(f)
        == f"{f}:1:1: error: file is binary (contains NUL bytes), not YAML hint: pass only YAML spec files"
    )


def test_oversized_file_is_not_parsed(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("# x\n" * (MAX_FILE_BYTES // 4 + 1))
    assert f"{f}:1:1: error: file is larger than 1024 KiB" in _only_error(f)


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    f = tmp_path / "edge.yaml"
    body = ORG.format(name="org")
    f.write_text(body + "#" * (MAX_FILE_BYTES - len(body) - 1) + "\n")
    assert f.stat().st_size == MAX_FILE_BYTES
    assert check_paths([f]).ok


def test_non_utf8_reports_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(ORG.format(name="org").encode() + "  # caf\xe9\n".encode("latin-1"))
    assert (
        _only_error(f)
        == f"{f}:7:8: error: file is not valid UTF-8 (byte 0xe9) hint: save the spec as UTF-8"
    )


def test_utf16_is_named(tmp_path: Path) -> None:
    f = tmp_path / "wide.yaml"
    f.write_bytes(ORG.format(name="org").encode("utf-16"))
    assert "file is UTF-16 encoded" in _only_error(f)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + ORG.format(name="org").encode())
    assert check_paths([f]).ok


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    f = tmp_path / "blank.yaml"
    f.write_text("\n   \n")
    assert "error: file is empty" in _only_error(f)


def test_billion_laughs_is_rejected_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = check_paths([f])
    assert time.monotonic() - started < 30  # expanding it would take minutes and gigabytes
    assert result.desired is None
    aliases = [p for p in result.errors if p.message == "YAML aliases (*name) are not supported"]
    assert len(aliases) == 8 * 9  # each written alias once: nothing was expanded
    assert (aliases[0].location.line, aliases[0].location.column) == (
        2,
        8,
    )  # "b: &b [" then the first *a


def test_every_alias_is_reported_with_its_position(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text("x: &v 1\ny: *v\nz: [*v]\n")
    aliases = [p for p in check_paths([f]).errors if "alias" in p.message]
    assert [(p.location.line, p.location.column) for p in aliases] == [(2, 4), (3, 5)]


def test_control_character(tmp_path: Path) -> None:
    f = tmp_path / "ctl.yaml"
    f.write_text("a: b\nc: \x07\n")
    assert _only_error(f).startswith(f"{f}:2:4: error: YAML error: unacceptable character #x0007")


def test_tab_in_block_value_after_spaces_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "tabs.yaml"
    f.write_text("a:\n  b: 1\n \tc: 2\n")
    assert _only_error(f).startswith(f"{f}:3:2: error: tab character in indentation")


def test_tab_inside_a_value_is_fine(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_text(ORG.format(name="org").replace("spec:", "spec: # a\tcomment"))
    assert check_paths([f]).ok


def test_directory_walk_is_recursive_sorted_and_yaml_only(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "b" / "one.yml").write_text(ORG.format(name="one"))
    (tmp_path / "a" / "deep" / "two.yaml").write_text(ORG.format(name="two"))
    (tmp_path / "a" / "notes.txt").write_text("not a spec: [")
    (tmp_path / "a" / "README.md").write_text("# nope")
    result = check_paths([tmp_path])
    assert result.ok
    assert result.files == (tmp_path / "a" / "deep" / "two.yaml", tmp_path / "b" / "one.yml")
    assert result.desired is not None and sorted(result.desired.orgs) == ["one", "two"]


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    f = tmp_path / "org.yaml"
    f.write_text(ORG.format(name="org"))
    assert check_paths([f, tmp_path, f]).ok


def test_directory_without_specs(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    result = check_paths([tmp_path])
    assert [p.message for p in result.errors] == [
        f"no *.yaml or *.yml files in directory {tmp_path}"
    ]


def test_missing_path(tmp_path: Path) -> None:
    result = check_paths([tmp_path / "nope.yaml"])
    assert [p.message for p in result.errors] == [f"{tmp_path / 'nope.yaml'} does not exist"]


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: [\n")
    (tmp_path / "b.yaml").write_text("")
    (tmp_path / "c.yaml").write_text(ORG.format(name="Bad"))
    result = check_paths([tmp_path])
    assert [p.location.file.name for p in result.errors] == ["a.yaml", "b.yaml", "c.yaml"]


def test_references_across_files(tmp_path: Path) -> None:
    (tmp_path / "org.yaml").write_text(ORG.format(name="org"))
    (tmp_path / "app.yaml").write_text(
        "apiVersion: provisioner.dev/v1\nkind: SalesforceApp\nmetadata:\n  name: app\n"
        "spec:\n  org: org\n  label: App\n  contactEmail: a@example.com\n"
    )
    assert check_paths([tmp_path / "app.yaml"]).errors[0].message == "unknown SalesforceOrg 'org'"
    assert check_paths([tmp_path]).ok


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    # Where it is reported depends on the parser: the composer stops at level 51, libyaml's
    # scanner (when PyYAML has it) at its own limit further on the line.
    error = _only_error(f)
    assert error.startswith(f"{f}:1:")
    assert error.endswith(
        " error: YAML nesting too deep: collections nested more than 50 levels deep "
        "hint: a spec needs only a few levels of nesting; check the brackets"
    )
