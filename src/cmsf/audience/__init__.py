"""Salesforce to Campaign Monitor: import wizards, and SMS numbers in E.164."""
