"""The Campaign Monitor emulator and the account (`world`) it serves."""
