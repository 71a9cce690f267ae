"""Secret-shaped text is hidden from messages that quote what a person wrote."""

from __future__ import annotations

from provisioner.textsafety import hide_secret_like


def test_shapes_are_hidden_and_ordinary_text_is_not() -> None:
    assert hide_secret_like("unknown field 'CANARYSECRETzq8H3vN0pL2' (spec.CANARYSECRETzq8H3vN0pL2)"
                            ) == "unknown field '(redacted)' (spec.(redacted))"
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----"
    assert hide_secret_like(f"got {pem} here") == "got (redacted PEM) here"
    assert hide_secret_like("force://PlatformCLI::5Aep861xyz@a.my.salesforce.com x") == (
        "force://(redacted) x")
    assert "(redacted token)" in hide_secret_like("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig")
    for ordinary in ("apiVersion must be provisioner.dev/v1", "Workflow_Integration",
                     "sha256:86e7c453ae019732b57193182663ae8d6853ee666c31170df4361733192afd5d",
                     "https://acme--uat.sandbox.my.salesforce.com", "pvum2jiagq5j57ts",
                     "spec.credentials[0].username", "/Users/Alice/Projects2024Q1Reports/s.yaml"):
        assert hide_secret_like(ordinary) == ordinary, ordinary
