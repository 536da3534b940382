"""Signals of the connections app, for the apps above it to act on without connections importing them."""

from django.dispatch import Signal

# Sent after cmsf was connected to a different Salesforce org than before (kwargs: old_org_id, new_org_id):
# whatever cmsf knows about the records it wrote belongs to the old org.
salesforce_org_changed = Signal()
