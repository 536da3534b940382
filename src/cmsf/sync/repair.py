"""Repair of records an earlier run left half-written: rows of cmsf's objects that lost the lookup to their parent.

Every lookup from one of cmsf's objects to its parent clears itself when the parent is deleted (SetNull). Before
the full sync's purge marked the ledger rows of the records it could not delete (`engine.purge_client`), a record
whose delete failed kept its ledger row as if it still held its parent, and no later sync wrote it again: a
membership row linked to no list, for good.

Such rows are found once per client (one query per object, five in all) in the first run that has a ledger to
compare with, and after every full sync: the parent is put back from the row's key (a membership's key starts with
its list id, a tracking row's with its campaign id, a suppression's with its client id; lists and campaigns belong
to the client being synced), which is all the lookup lost, so the ledger's row is true again. A row Salesforce
refuses is reported with its key and reason, and its ledger row is marked so that it is written whole when next read.
"""

from __future__ import annotations

from collections.abc import Callable

from cmsf.salesforce.errors import RecordError
from cmsf.sync.models import Cursor, RecordMap
from cmsf.sync.run import Context
from cmsf.sync.transforms import ACTIVITY, CAMPAIGN, CLIENT, LIST, SUBSCRIBER, SUPPRESSION, Target
from cmsf.sync.writer import LOOKUP_CHUNK, Failure

STREAM = "repair:parents"  # the cursor that says a client's rows were checked; a full sync removes it with the rest
BATCH = 200


def _key_head(ctx: Context, key: str) -> str:
    return key.split(":", 1)[0]


def _client(ctx: Context, key: str) -> str:
    return ctx.client.cm_client_id


# (object, external id), the lookup to the parent, its relationship, the parent's external id, the parent of a key
PARENTS: tuple[tuple[Target, str, str, str, Callable[[Context, str], str]], ...] = (
    (LIST, "Client__c", "Client__r", CLIENT.external_id, _client),
    (CAMPAIGN, "Client__c", "Client__r", CLIENT.external_id, _client),
    (SUBSCRIBER, "List__c", "List__r", LIST.external_id, _key_head),
    (ACTIVITY, "Campaign__c", "Campaign__r", CAMPAIGN.external_id, _key_head),
    (SUPPRESSION, "Client__c", "Client__r", CLIENT.external_id, _key_head),
)


def due(ctx: Context) -> bool:
    """Whether this run checks the client's rows: not yet checked, and a ledger to compare with (a first run, or a
    full sync whose purge removed everything, has none; called before the run writes)."""
    if ctx.sf is None or ctx.writer.dry_run or (STREAM, "") in ctx.cursors:
        return False
    return RecordMap.objects.filter(client=ctx.client).exists()


def parents(ctx: Context, *, check: bool) -> None:
    """Put back the parent of every row of the client that lost it (`check`: `due` said so when the run began);
    the check is then marked done (a row refused is reported and written whole when next read)."""
    if ctx.sf is None or ctx.writer.dry_run or (STREAM, "") in ctx.cursors:
        return
    if check:
        ctx.stage("repairing")
        for target, lookup, relationship, parent_key, parent_of in PARENTS:
            _repair(ctx, target, lookup, relationship, parent_key, parent_of)
    Cursor.objects.update_or_create(client=ctx.client, stream=STREAM, scope="", defaults={"position": ctx.started})
    ctx.cursors[(STREAM, "")] = ctx.started


def _repair(
    ctx: Context,
    target: Target,
    lookup: str,
    relationship: str,
    parent_key: str,
    parent_of: Callable[[Context, str], str],
) -> None:
    assert ctx.sf is not None
    sobject, external_id = target.sobject, target.external_id
    found = [str(r[external_id]) for r in ctx.sf.query(f"SELECT {external_id} FROM {sobject} WHERE {lookup} = null")
             if r.get(external_id)]  # fmt: skip
    ours: list[str] = []
    for start in range(0, len(found), LOOKUP_CHUNK):
        chunk = found[start : start + LOOKUP_CHUNK]
        ours += RecordMap.objects.filter(client=ctx.client, sobject=sobject, key__in=chunk).values_list(
            "key", flat=True
        )
    for start in range(0, len(ours), BATCH):
        keys = ours[start : start + BATCH]
        rows = [{external_id: key, relationship: {parent_key: parent_of(ctx, key)}} for key in keys]
        refused = []
        for key, result in zip(keys, ctx.sf.upsert(sobject, external_id, rows), strict=True):
            if result.success:
                ctx.tally.written[sobject] += 1
                continue
            refused.append(key)
            for error in result.errors or [RecordError("UNKNOWN_ERROR", "no Id came back")]:
                ctx.tally.fail(Failure(sobject, key, error))
            ctx.tally.failed[sobject] += 1
        if refused:
            RecordMap.objects.filter(client=ctx.client, sobject=sobject, key__in=refused).update(content_hash="")
