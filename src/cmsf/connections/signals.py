"""Signals of the connections app, for the apps above it to act on without connections importing them."""

from django.dispatch import Signal

# Sent after cmsf was connected to a different Salesforce org than before (kwargs: old_org_id, new_org_id):
# whatever cmsf knows about the records it wrote belongs to the old org.
salesforce_org_changed = Signal()

# Asked what the apps above keep for a Campaign Monitor client (kwargs: client): each receiver answers with a list of
# phrases for the confirmation that leaving the client out removes them.
client_configuration = Signal()

# Sent when a client is left unselected (kwargs: client, actor), inside the transaction that leaves it out: each
# receiver removes what it keeps for the client.
client_left_out = Signal()
