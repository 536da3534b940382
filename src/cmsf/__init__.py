"""cmsf keeps Salesforce in step with Campaign Monitor."""

__version__ = "0.1.0"
