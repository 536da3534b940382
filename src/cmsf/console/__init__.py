"""The settings console: views, forms, templates and the two permission sets."""
