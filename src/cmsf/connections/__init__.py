"""The Campaign Monitor account and its clients, the Salesforce org and its sync user."""
