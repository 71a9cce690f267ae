"""The hostile spec corpus: each case is a spec nobody should write (or an attacker would), and
``provisioner validate`` answers it with a clear problem at a file:line, in a child process
limited to 1 GiB of data memory and a bounded time, and never prints a secret the spec holds.

Bounds: the child runs under RLIMIT_DATA = 1 GiB (heap and anonymous maps) (an expansion or a huge read would fail there,
not on the machine) and a 120 s timeout far above what any case needs (a hang is the failure
it catches, not slowness).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = "CANARYSECRETzq8H3vN0pL2"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIE" + CANARY + "AAAA\n-----END PRIVATE KEY-----"
ORG = "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: sb}\nspec: {sandbox: {}}\n"
INST = ("apiVersion: provisioner.dev/v1\nkind: WorkflowInstance\nmetadata: {name: wf}\n"
        "spec: {baseUrl: 'https://wf.example.com', apiKey: {env: K}, sink: {type: api}}\n")
def app(extra="", name="app", **over):
    fields = {"org": "sb", "label": "A", "contactEmail": "a@example.com"}
    fields.update(over)
    body = "".join(f"  {k}: {v}\n" for k, v in fields.items())
    return f"apiVersion: provisioner.dev/v1\nkind: SalesforceApp\nmetadata: {{name: {name}}}\nspec:\n{body}{extra}"
def docs(*d): return "---\n".join(d)
laughs = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{chr(98+i)}: &{chr(98+i)} [*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)},*{chr(97+i)}]\n" for i in range(9))
CASES: dict[str, str | bytes] = {
 "billion-laughs": laughs,
 "deep-nesting": "a: " + "[" * 20000 + "]" * 20000 + "\n",
 "deep-mapping": "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "v\n",
 "huge-file": "# " + "x" * (2 * 1024 * 1024) + "\n",
 "nul-bytes": b"apiVersion: provisioner.dev/v1\x00\n",
 "utf16": "apiVersion: x\n".encode("utf-16"),
 "bad-utf8": b"apiVersion: provisioner.dev/v1\nkind: \xff\xfe\n",
 "tabs": "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata:\n\tname: sb\n",
 "duplicate-keys": "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nkind: SalesforceApp\nmetadata: {name: sb}\nspec: {sandbox: {}}\n",
 "empty-file": "",
 "only-comments": "# nothing here\n",
 "top-level-list": "- a\n- b\n",
 "top-level-scalar": "hello\n",
 "unknown-kind": "apiVersion: provisioner.dev/v1\nkind: Bucket\nmetadata: {name: x}\nspec: {}\n",
 "missing-apiversion": "kind: SalesforceOrg\nmetadata: {name: sb}\nspec: {sandbox: {}}\n",
 "wrong-apiversion": "apiVersion: provisioner.dev/v9\nkind: SalesforceOrg\nmetadata: {name: sb}\nspec: {sandbox: {}}\n",
 "apiversion-number": "apiVersion: 1\nkind: SalesforceOrg\nmetadata: {name: sb}\nspec: {sandbox: {}}\n",
 "name-too-long": "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: " + "a" * 300 + "}\nspec: {sandbox: {}}\n",
 "name-bidi": 'apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: "sb\\u202e"}\nspec: {sandbox: {}}\n',
 "name-newline": 'apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: "sb\\n"}\nspec: {sandbox: {}}\n',
 "name-empty": 'apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: ""}\nspec: {sandbox: {}}\n',
 "metadata-list": "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: [a]\nspec: {sandbox: {}}\n",
 "spec-missing": "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: sb}\n",
 "literal-api-key": docs(ORG, INST.replace("{env: K}", "'n8n_api_" + CANARY + "'"), app()),
 "literal-private-key": docs(ORG.replace("spec: {sandbox: {}}", "spec:\n  environment: production\n  myDomainUrl: https://a.my.salesforce.com\n  auth:\n    jwt:\n      clientId: x\n      username: u@example.com\n      privateKey: '" + PEM.replace("\n", "\\n") + "'"), app()),
 "literal-private-key-block": docs(ORG.replace("spec: {sandbox: {}}", "spec:\n  environment: production\n  myDomainUrl: https://a.my.salesforce.com\n  auth:\n    jwt:\n      clientId: x\n      username: u@example.com\n      privateKey: |\n" + "".join("        " + line + "\n" for line in PEM.splitlines())), app()),
 "literal-sfdx-url": docs(ORG.replace("spec: {sandbox: {}}", "spec:\n  environment: production\n  myDomainUrl: https://a.my.salesforce.com\n  auth:\n    sfdxAuthUrl: 'force://PlatformCLI::5Aep" + CANARY + "@a.my.salesforce.com'"), app()),
 "literal-encryption-key": docs(ORG, INST.replace("sink: {type: api}", "sink: {type: importFile, path: x.json, encryptionKey: '" + CANARY + "'}"), app()),
 "secret-in-unknown-field": docs(ORG, app(extra="  password: '" + CANARY + "'\n")),
 "secret-as-key-name": docs(ORG, app(extra="  " + CANARY + ": 1\n")),
 "pem-as-key-name": docs(ORG, app(extra="  ? " + json.dumps(PEM) + "\n  : 1\n")),
 "sfdx-url-as-key-name": docs(ORG, app(extra="  force://PlatformCLI::5Aep" + CANARY + "@a.my.salesforce.com: 1\n")),
 "env-name-newline": docs(ORG, INST.replace("{env: K}", "{env: \"K\\n\"}"), app()),
 "secret-in-env-name": docs(ORG, INST.replace("{env: K}", "{env: '" + CANARY + "=x'}"), app()),
 "callback-javascript": docs(ORG, app(callbackUrls="['javascript:alert(1)']")),
 "callback-http-remote": docs(ORG, app(callbackUrls="['http://evil.example.com/cb']")),
 "callback-userinfo": docs(ORG, app(callbackUrls="['https://user:" + CANARY + "@evil.example.com/cb']")),
 "callback-fragment": docs(ORG, app(callbackUrls="['https://a.example.com/cb#x']")),
 "callback-newline": docs(ORG, app(callbackUrls='["https://a.example.com/cb\\nHost: evil"]')),
 "base-url-file": docs(ORG, INST.replace("https://wf.example.com", "file:///etc/passwd"), app()),
 "base-url-ftp": docs(ORG, INST.replace("https://wf.example.com", "ftp://wf.example.com"), app()),
 "my-domain-http": ORG.replace("spec: {sandbox: {}}", "spec:\n  environment: production\n  myDomainUrl: http://a.my.salesforce.com\n  auth: {sfdxAuthUrl: {env: X}}"),
 "unknown-scope": docs(ORG, app(scopes="[api, rm_rf]")),
 "scopes-huge": docs(ORG, app(scopes="[" + ",".join(["api"] * 100000) + "]")),
 "label-huge": docs(ORG, app(label="'" + "L" * 300000 + "'")),
 "label-number": docs(ORG, app(label="12")),
 "label-date": docs(ORG, app(label="2024-01-01")),
 "many-empty-mappings": "--- {}\n" * 140000,  # just under 1 MiB, two problems each
 "many-empty-documents": "".join("---\n# " + "x" * 42 + "\n" for _ in range(20000)),
 "email-bad": docs(ORG, app(contactEmail="'not an email'")),
 "email-injection": docs(ORG, app(contactEmail="'a@example.com\\nBcc: x@evil.example.com'")),
 "unknown-org-ref": docs(ORG, app(org="nowhere")),
 "app-type-bad": docs(ORG, app(appType="lambda")),
 "cert-key-size": docs(ORG, app(certificate="{keySize: 512}")),
 "cert-validity-negative": docs(ORG, app(certificate="{validityDays: -5}")),
 "cert-validity-huge": docs(ORG, app(certificate="{validityDays: 99999999999999999999}")),
 "number-overflow": docs(ORG, app(certificate="{keySize: 1e400}")),
 "python-tag": "!!python/object/apply:os.system ['echo pwned']\n",
 "binary-tag": "apiVersion: !!binary aGVsbG8=\n",
 "set-tag": "apiVersion: !!set {a, b}\n",
 "merge-key": "base: &b {kind: SalesforceOrg}\napiVersion: provisioner.dev/v1\n<<: *b\nmetadata: {name: sb}\nspec: {sandbox: {}}\n",
 "complex-key": "? [a, b]\n: value\n",
 "null-key": "~: x\napiVersion: provisioner.dev/v1\n",
 "many-documents": "---\n".join([f"apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {{name: o{i}}}\nspec: {{sandbox: {{}}}}\n" for i in range(3000)]),
 "unterminated-quote": "apiVersion: 'provisioner.dev/v1\nkind: x\n",
 "unterminated-flow": "spec: {a: [1, 2\n",
 "bad-indentation": "apiVersion: provisioner.dev/v1\n  kind: SalesforceOrg\n",
 "directive-junk": "%YAML 9.9\n---\na: 1\n",
 "duplicate-app-name": docs(ORG, app(), app()),
 "credential-unknown-instance": docs(ORG, app(certificate="{}", credentials="[{type: jwt, instance: nope, name: J, username: u@example.com}]")),
 "credential-type-bad": docs(ORG, INST, app(credentials="[{type: basic, instance: wf, name: J}]")),
 "preauth-not-list": docs(ORG, app(preAuthorized="{profiles: Admin}")),
}


EXPECTED: dict[str, str] = {
    'billion-laughs': 'YAML aliases (*name) are not supported',
    'deep-nesting': 'YAML nesting too deep',
    'deep-mapping': 'file is larger than 1024 KiB',
    'huge-file': 'file is larger than 1024 KiB',
    'nul-bytes': 'file is binary',
    'utf16': 'file is UTF-16 encoded',
    'bad-utf8': 'file is not valid UTF-8',
    'tabs': 'tab character in indentation',
    'duplicate-keys': "duplicate key 'kind'", 'empty-file': 'file is empty',
    'only-comments': 'file contains no YAML documents',
    'top-level-list': 'a document must be a mapping, not a list',
    'top-level-scalar': 'a document must be a mapping, not a string',
    'unknown-kind': "unknown kind 'Bucket'", 'missing-apiversion': 'missing apiVersion',
    'wrong-apiversion': "apiVersion must be provisioner.dev/v1, not 'provisioner.dev/v9'", 'apiversion-number': 'apiVersion must be provisioner.dev/v1, not 1',
    'name-too-long': 'name must be at most 63 characters long',
    'name-bidi': 'name must use lowercase letters',
    'name-newline': 'name must use lowercase letters',
    'name-empty': 'name must use lowercase letters',
    'metadata-list': 'metadata must be a mapping, not a list',
    'spec-missing': "missing required field 'spec'", 'literal-api-key': 'apiKey must be a reference, not a literal value',
    'literal-private-key': 'privateKey must be a reference, not a literal value',
    'literal-private-key-block': 'privateKey must be a reference, not a literal value',
    'literal-sfdx-url': 'sfdxAuthUrl must be a reference, not a literal value',
    'literal-encryption-key': 'encryptionKey must be a reference, not a literal value',
    'secret-in-unknown-field': "unknown field 'password' in spec", 'secret-as-key-name': "unknown field '(redacted)' in spec", 'pem-as-key-name': "unknown field '(redacted PEM)' in spec (spec[\"(redacted PEM)\"])", 'sfdx-url-as-key-name': "unknown field 'force://(redacted)' in spec (spec[\"force://(redacted)\"])", 'secret-in-env-name': 'env must be an environment variable name', 'env-name-newline': "env must be an environment variable name (letters, digits and underscores, not starting with a digit) (got 'K\\n')",
    'callback-javascript': 'callbackUrls[0] must be a callback URL',
    'callback-http-remote': 'callbackUrls[0] must be a callback URL',
    'callback-userinfo': 'URL must not contain a user name or password',
    'callback-fragment': 'callbackUrls[0] must be a callback URL',
    'callback-newline': 'callbackUrls[0] must be a callback URL',
    'base-url-file': 'baseUrl must be an https:// URL',
    'base-url-ftp': 'baseUrl must be an https:// URL',
    'my-domain-http': 'myDomainUrl must be an https:// URL',
    'unknown-scope': "unknown OAuth scope 'rm_rf'", 'label-huge': 'label must be at most 255 characters long',
    'label-number': 'label must be a string, not a number',
    'label-date': 'label must be a string, not a date (quote it to keep it text)',
    # Problems counted as they come: counting the list per document took minutes here.
    'many-empty-mappings': 'invalid: 280000 errors, 0 warnings in 1 file',
    'many-empty-documents': 'file contains no YAML documents',  # ~1 MiB: counted in linear time
    'email-bad': 'contactEmail must be an email address',
    'email-injection': 'contactEmail must be an email address',
    'unknown-org-ref': "unknown SalesforceOrg 'nowhere'", 'app-type-bad': "appType must be one of externalClientApp, connectedApp, not 'lambda'", 'cert-key-size': 'keySize must be one of 2048, 3072, 4096, not 512',
    'cert-validity-negative': 'validityDays must be at least 1',
    'cert-validity-huge': 'validityDays must be at most 3650',
    'number-overflow': 'keySize must be one of 2048, 3072, 4096',
    'python-tag': 'a document must be a mapping, not a list',
    'binary-tag': 'apiVersion must be provisioner.dev/v1, not a string',
    'set-tag': 'apiVersion must be provisioner.dev/v1, not a mapping',
    'merge-key': 'YAML aliases (*name) are not supported',
    'complex-key': 'missing apiVersion',
    'null-key': "mapping key '~' is not a string", 'unterminated-quote': 'YAML syntax error: while scanning a quoted scalar',
    'unterminated-flow': 'YAML syntax error: while parsing a flow sequence',
    'bad-indentation': 'YAML syntax error: mapping values are not allowed',
    'directive-junk': 'YAML syntax error: found incompatible YAML document',
    'duplicate-app-name': "duplicate SalesforceApp name 'app'", 'credential-unknown-instance': "unknown WorkflowInstance 'nope'", 'credential-type-bad': "type must be one of jwt, oauth2, not 'basic'", 'preauth-not-list': 'profiles must be a list, not a string',
}

#: Large but bounded inputs that are valid: accepted, within the same limits.
VALID: dict[str, str] = {'scopes-huge': 'valid: 1 file, 1 org, 0 instances, 1 app', 'many-documents': 'valid: 1 file, 3000 orgs'}

GIB = 1024 ** 3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (GIB, GIB))


def _validate(tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    content = CASES[name]
    spec = tmp_path / f"{name}.yaml"
    spec.write_bytes(content if isinstance(content, bytes) else content.encode())
    return subprocess.run([sys.executable, "-m", "provisioner", "validate", str(spec)],
                          capture_output=True, text=True, timeout=120, check=False,
                          preexec_fn=_limit_memory)


def test_the_corpus_is_complete() -> None:
    assert len(CASES) >= 60
    assert set(CASES) == set(EXPECTED) | set(VALID)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_hostile_spec_is_a_clear_problem(tmp_path: Path, name: str) -> None:
    done = _validate(tmp_path, name)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert EXPECTED[name] in out, out
    assert f"{name}.yaml:" in out  # at a file (and line)
    assert CANARY not in out and "Traceback" not in out


@pytest.mark.parametrize("name", sorted(VALID))
def test_large_valid_specs_stay_within_the_bounds(tmp_path: Path, name: str) -> None:
    done = _validate(tmp_path, name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert VALID[name] in done.stdout


@pytest.mark.parametrize("name", ["secret-as-key-name", "pem-as-key-name", "sfdx-url-as-key-name"])
def test_a_secret_written_as_a_key_is_hidden_from_the_json_problems(
    tmp_path: Path, name: str
) -> None:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(str(CASES[name]))
    done = subprocess.run([sys.executable, "-m", "provisioner", "validate", str(spec),
                           "--format", "json"], capture_output=True, text=True, timeout=120,
                          check=False, preexec_fn=_limit_memory)
    assert done.returncode == 1 and CANARY not in done.stdout + done.stderr
    (problem,) = json.loads(done.stdout)["problems"]
    assert problem["message"].startswith("unknown field '") and "redacted" in problem["message"]
    assert problem["jsonPath"].startswith("spec") and "redacted" in problem["jsonPath"]
