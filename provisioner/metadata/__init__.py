"""Salesforce Metadata API components for apps: build, XML, deploy packages, comparable views.

Everything here is offline and pure: no network, no click, no zeep at import time.
"""

from __future__ import annotations

from provisioner.metadata.build import (
    CONNECTED_APP,
    ECA_GLOBAL,
    ECA_HEADER,
    ECA_OAUTH,
    ECA_OAUTH_POLICIES,
    ECA_POLICIES,
    default_callback_url,
    effective_callback_urls,
)
from provisioner.metadata.package import (
    deploy_zip,
    destructive_changes_xml,
    package_files,
    package_xml,
    zip_files,
)
from provisioner.metadata.types import (
    FIELDS,
    METADATA_NS,
    NESTED,
    TYPES,
    Component,
    FieldDef,
    Placeholder,
    TypeInfo,
)
from provisioner.metadata.view import (
    AppView,
    ViewChange,
    certificate_fingerprint,
    desired_view,
    live_view,
)
from provisioner.metadata.xml import from_crud, from_xml, to_crud_dict, to_xml

__all__ = [
    "CONNECTED_APP",
    "ECA_GLOBAL",
    "ECA_HEADER",
    "ECA_OAUTH",
    "ECA_OAUTH_POLICIES",
    "ECA_POLICIES",
    "FIELDS",
    "METADATA_NS",
    "NESTED",
    "TYPES",
    "AppView",
    "Component",
    "FieldDef",
    "Placeholder",
    "TypeInfo",
    "ViewChange",
    "certificate_fingerprint",
    "default_callback_url",
    "deploy_zip",
    "desired_view",
    "destructive_changes_xml",
    "effective_callback_urls",
    "from_crud",
    "from_xml",
    "live_view",
    "package_files",
    "package_xml",
    "to_crud_dict",
    "to_xml",
    "zip_files",
]
