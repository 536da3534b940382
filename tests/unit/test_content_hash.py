"""The ledger's content hash: equal for the same content in any key order, different for any change."""

from cmsf.sync.transforms import content_hash


def test_the_hash_ignores_key_order_and_sees_every_change() -> None:
    row = {"Key__c": "k", "Name": "Ann", "Lead__c": None, "Active__c": True, "List__r": {"List_Id__c": "l1"}, "N": 1.5}
    same = dict(reversed(list(row.items())))
    assert content_hash(row) == content_hash(same)
    changes = [
        {"Name": "Anne"},
        {"Lead__c": ""},
        {"Active__c": False},
        {"Active__c": 1},
        {"List__r": {"List_Id__c": "l2"}},
        {"N": 1.25},
        {"Extra__c": None},
    ]
    hashes = {content_hash({**row, **change}) for change in changes}
    assert len(hashes) == len(changes)
    assert content_hash(row) not in hashes
