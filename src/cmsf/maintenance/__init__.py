"""Maintenance messages with support codes, the audit log, governor limits and notifications."""
