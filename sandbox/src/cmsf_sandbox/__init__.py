"""cmsf-sandbox: emulators of Campaign Monitor and Salesforce and the datasets they serve (no Django), the demo's
set-up and the benchmark (those two drive cmsf itself)."""
