"""The plan cmsf runs on, its trial, usage and invoices."""
