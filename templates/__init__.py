"""The report templates (Jinja2) and print CSS, shipped inside the wheel as ``audit.templates``."""
