"""The Salesforce side: the SFDX source of what cmsf needs in an org, and (as it lands) the adapter. No Django."""
