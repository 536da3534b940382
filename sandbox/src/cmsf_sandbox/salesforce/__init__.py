"""The Salesforce emulator and the Salesforce side of the sandbox's dataset."""
