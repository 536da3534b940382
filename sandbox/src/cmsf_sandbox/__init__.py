"""The sandbox: emulators of Campaign Monitor and Salesforce, and the datasets they serve (no Django)."""
