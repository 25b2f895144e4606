"""Threat-intelligence feeds for patch auditing: OSV advisories, CISA KEV, FIRST EPSS.

Imported offline (hospital scan networks are often air-gapped) or downloaded when the
network allows, stored in the scan store's SQLite file, matched against each host's
packages by the derived fact ``vulnerable_packages`` (hygie.facts.vulnerabilities).
"""
