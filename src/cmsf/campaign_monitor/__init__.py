"""The Campaign Monitor API v3.3 client: auth, paging, retries, rate limits, typed records, time zones. No Django."""
