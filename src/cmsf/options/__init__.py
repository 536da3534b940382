"""Every option on the console: tracking history, general options, campaigns and statuses, SMS."""
