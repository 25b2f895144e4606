"""Report renderers and their Jinja2 templates."""
