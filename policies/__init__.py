"""Built-in policy packs (``*.yaml``) and framework catalogs (``frameworks/``)."""
