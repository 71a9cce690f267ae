"""provisioner: Salesforce apps and Workflow² credentials as code."""

__version__ = "0.1.0"
