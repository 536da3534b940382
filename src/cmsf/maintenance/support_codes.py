"""The support codes of maintenance messages: what each one means and what to do. The one home of that guidance.

A message's support code opens its page in the console (Maintenance > support code). Codes come in three kinds:

- `CMSF-SF-<Salesforce error code>`: Salesforce refused records of a sync (the error code is Salesforce's own, such
  as `CMSF-SF-UNABLE_TO_LOCK_ROW`); the known ones are listed below, any other gets the general Salesforce entry;
- cmsf's own codes (`CMSF-API-BUDGET`, `CMSF-RECONNECT`, `CMSF-SYNC-FAILED`, and one per console feature that
  can fail at Campaign Monitor or Salesforce, such as `CMSF-STORAGE-READ`);
- any code not listed gets a general page that points to the message's details, never "not found".
"""

from __future__ import annotations

from dataclasses import dataclass

SALESFORCE_PREFIX = "CMSF-SF-"
RETRY_NOTE = (
    "Records Salesforce refused are not in cmsf's ledger of written records, so the next sync (or Retry on the "
    "message) sends them again."
)


@dataclass(frozen=True)
class SupportCode:
    code: str
    title: str
    meaning: str  # what happened, in the admin's words
    action: str  # what to do: the guidance a message with this code carries
    registered: bool = True  # False for the general entry of a code not listed here


def _salesforce(error: str, title: str, meaning: str, action: str) -> SupportCode:
    return SupportCode(f"{SALESFORCE_PREFIX}{error}", title, meaning, action)


_CODES: tuple[SupportCode, ...] = (
    _salesforce(
        "INVALID_FIELD",
        "A field cmsf writes is missing or hidden",
        "Salesforce does not know a field cmsf writes, or the Salesforce Sync User cannot see it: cmsf's objects "
        "or fields are not all installed in the org, or field-level security hides them.",
        "A field cmsf writes is missing or hidden. Run the schema check under Maintenance and give the Salesforce "
        "Sync User the CM Full Access permission set.",
    ),
    _salesforce(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "The Salesforce Sync User cannot edit a field",
        "A field cmsf writes is read-only for the Salesforce Sync User.",
        "The Salesforce Sync User cannot edit a field cmsf writes: assign the CM Full Access permission set.",
    ),
    _salesforce(
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "The Salesforce Sync User lacks access",
        "The Salesforce Sync User may not create or edit records of the object, or the records' owner is not "
        "shared with it.",
        "The Salesforce Sync User lacks access: assign the CM Full Access permission set, or change the Salesforce "
        "Sync User.",
    ),
    _salesforce(
        "MAPPED_VALUE",
        "A mapped value the Salesforce field cannot take",
        "A Campaign Monitor custom field mapped to a contact or lead field holds a value that field cannot take "
        "(text in a number field, an answer other than yes or no for a checkbox); the record's other mapped fields "
        "were written.",
        "A mapped custom field holds a value its Salesforce field cannot take: correct the subscriber's value in "
        "Campaign Monitor, or map the custom field to a field of a type that takes it (Field Mappings).",
    ),
    _salesforce(
        "INACTIVE_OWNER_OR_USER",
        "An inactive owner",
        "The records would be owned by a Salesforce user who is no longer active: usually the Salesforce Security "
        "Owner of the client.",
        "The Salesforce Security Owner of this client is inactive: choose another owner.",
    ),
    _salesforce(
        "STORAGE_LIMIT_EXCEEDED",
        "The org's data storage is full",
        "Salesforce refuses new records while the org uses more data storage than it has.",
        "The org's data storage is full: lower the days to keep or the email types stored.",
    ),
    _salesforce(
        "UNABLE_TO_LOCK_ROW",
        "Records were locked by other automation",
        "Another process (a flow, trigger or another integration) held the same records while cmsf wrote them.",
        "Other automation held the records; they are sent again on the next sync. Lower the batch size of this "
        "job under the internal governor limits if it keeps happening.",
    ),
    _salesforce(
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "A validation rule refused the records",
        "A validation rule in the org refused the records as cmsf wrote them.",
        "A validation rule in the org refused the record: adjust the rule for cmsf's objects.",
    ),
    _salesforce(
        "REQUIRED_FIELD_MISSING",
        "A required field is empty",
        "A field the org requires on the object was empty in the records cmsf wrote: usually a field made "
        "required in the org after cmsf was installed.",
        "Make the field optional for cmsf's objects, or give it a default value in Salesforce.",
    ),
    _salesforce(
        "DUPLICATE_VALUE",
        "A duplicate value",
        "Salesforce already holds a record with the same value in a unique field: for a campaign member, the "
        "contact or lead is already a member of the campaign (someone added it while the sync was writing).",
        "Delete nothing: the record Salesforce already holds is kept. cmsf reads a linked campaign's members before "
        "writing and adopts the ones it finds (their status and counts are updated in place, by their Id), so the "
        "next sync writes the record named in the details without a duplicate. If the message comes back after the "
        "next sync, find the record that holds the value named in the details and send both Ids to support; do not "
        "delete a campaign member, a contact or a lead to clear it.",
    ),
    _salesforce(
        "STRING_TOO_LONG",
        "A value is too long for its field",
        "A value from Campaign Monitor is longer than the Salesforce field allows.",
        "Make the field longer in Salesforce, or shorten the value in Campaign Monitor.",
    ),
    _salesforce(
        "NUMBER_OUTSIDE_VALID_RANGE",
        "A number is too large for its field",
        "A number from Campaign Monitor does not fit the Salesforce field's precision.",
        "Raise the field's precision in Salesforce.",
    ),
    _salesforce(
        "FIELD_INTEGRITY_EXCEPTION",
        "A value Salesforce does not accept",
        "A value does not fit the field: a restricted picklist without that value, or a reference to a record of "
        "the wrong kind.",
        "Add the value to the picklist (or lift its restriction) for cmsf's objects.",
    ),
    _salesforce(
        "INVALID_CROSS_REFERENCE_KEY",
        "A related record is missing",
        "A record refers to a Salesforce record that no longer exists or the Salesforce Sync User cannot see.",
        "Check the related record named in the details (a contact, lead or campaign) exists and is shared with "
        "the Salesforce Sync User.",
    ),
    _salesforce(
        "ENTITY_IS_DELETED",
        "A record was deleted in Salesforce",
        "cmsf wrote to a record that was deleted in Salesforce in the meantime.",
        "Nothing to do unless it keeps happening: the next sync writes the record again.",
    ),
    _salesforce(
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "A converted lead",
        "The lead was converted to a contact in Salesforce, and a converted lead cannot be changed.",
        "Nothing to do unless it keeps happening: cmsf links the activity to the contact the lead became on the "
        "next sync.",
    ),
    _salesforce(
        "UNKNOWN_ERROR",
        "Salesforce gave no reason",
        "Salesforce returned no Id and no error for the records.",
        "The records were not written; the rest of the batch was. They are tried again on the next sync.",
    ),
    SupportCode(
        "CMSF-API-BUDGET",
        "The sync stopped at the Salesforce API budget",
        "cmsf counts every Salesforce API call and stops a run cleanly when it reaches its share of the org's "
        "daily API limit, so other integrations of the org keep theirs.",
        "It goes on from where it stopped at the next run. Raise cmsf's API budget (a share of the org's daily "
        "limit) or sync less often if this happens every day.",
    ),
    SupportCode(
        "CMSF-RECONNECT",
        "A connection needs to be made again",
        "Campaign Monitor or Salesforce refused cmsf's credentials: an API key was revoked, a token expired, or "
        "the Salesforce Sync User's password or access changed.",
        "Reconnect the service named in the details.",
    ),
    SupportCode(
        "CMSF-SYNC-FAILED",
        "The sync of a client failed",
        "The run ended early because Campaign Monitor or Salesforce returned an error cmsf could not get past; "
        "nothing it did not finish was marked as done.",
        "The next sync tries again; if it fails the same way, check the details and the connections.",
    ),
    SupportCode(
        "CMSF-NOT-CONNECTED",
        "A sync could not run: not connected",
        "A sync was started while Campaign Monitor or Salesforce was disconnected, so it read and wrote nothing. "
        "While either is disconnected, Sync Settings says so, Sync now is disabled and no scheduled sync runs.",
        "Connect the service named in the message on the console's Setup page (/setup/, also in the Sync Settings "
        "menu, or with `cmsf connect`); the next sync then runs as scheduled.",
    ),
    SupportCode(
        "CMSF-IMPORT-FAILED",
        "An import wizard's run failed",
        "The run stopped before its end: Salesforce would not read the wizard's source (a query, campaign, list view "
        "or report that no longer exists or no longer runs), Campaign Monitor refused a call, a connection is gone, "
        "or Disable triggers is on. What was sent before the failure stays; nothing after it was sent.",
        "Open the wizard under Import Wizard, read the run's message, fix the source or the connection, and press "
        "Preview then Run now (or wait for its next run time). The message resolves itself once a run of the wizard "
        "goes through.",
    ),
    SupportCode(
        "CMSF-IMPORT-RECORDS",
        "An import wizard could not import some records",
        "The run went through, but Campaign Monitor refused some records (a malformed email, a value its custom "
        "field cannot take), or only part of the source could be read (a report past 50,000 records). Each is "
        "listed with its key and reason. Records the rules keep out (Email Opt Out with 'prevent adding opted-out "
        "records', the suppression list, a forgotten address) are counted on the run's page and are not a problem.",
        "Open the run's page under Import Wizard and correct the records in Salesforce where a value is wrong; the "
        "message resolves itself once a run of the wizard imports them.",
    ),
    SupportCode(
        "CMSF-WATCH-RECORDS",
        "Salesforce changes the watcher could not handle",
        "The watcher read changes of contacts and leads in Salesforce, but some could not be pushed to Campaign "
        "Monitor: Campaign Monitor refused an update, an add or remove of a subscriber rule, or a mapped value; each "
        "is listed with the record and the reason. The other changes were pushed.",
        "Correct the records named (a malformed email, a value the custom field cannot take) in Salesforce: the "
        "next change of each is pushed again. The watcher's runs are on General Options; the message resolves itself "
        "once a run handles every change it reads.",
    ),
    SupportCode(
        "CMSF-RULE-RUN",
        "A subscriber rule could not run",
        "A retrospective run of a subscriber rule, or the read of the records that met its criteria when it started, "
        "stopped (Salesforce would not run its criteria, Campaign Monitor refused a call, a connection is gone, or "
        "Disable triggers is on), or Campaign Monitor refused some of the records it added.",
        "Open the rule under Subscriber Rules: check its criteria and the connections, then run it again (Run "
        "retrospectively, or Read again). The message resolves itself once a run of the rule goes through.",
    ),
    SupportCode(
        "CMSF-CONSOLE-ACTION",
        "An action on the console failed",
        "Campaign Monitor or Salesforce refused an action started on the console (such as selecting clients, "
        "reconnecting or changing a Security Owner); the action was not done. The message says which action, and "
        "the details give the service's own words.",
        "Follow the guidance on the message, then do the action again. If the details name credentials, reconnect "
        "the service under Sync Settings.",
    ),
    SupportCode(
        "CMSF-SYNC-USER",
        "Changing the Salesforce Sync User failed",
        "The Salesforce sign-in to choose a new Salesforce Sync User did not succeed, so the sync still runs as "
        "the previous user.",
        "Sign in with a Salesforce user of the connected org who holds the CM Full Access permission set, then try "
        "Change Salesforce Sync User again.",
    ),
    SupportCode(
        "CMSF-USER-SECURITY",
        "A permission set change failed in Salesforce",
        "Salesforce refused to read, assign or remove one of cmsf's permission sets (CM Full Access, CM User "
        "Access); nothing was changed.",
        "Check that the Salesforce Sync User may assign permission sets (the 'Assign Permission Sets' permission, or "
        "a system administrator as Sync User), that the user is active, then try again under User Security.",
    ),
    SupportCode(
        "CMSF-STORAGE-READ",
        "Salesforce did not give the storage figures",
        "The Storage page could not read how many records cmsf holds or how much data storage the org has left.",
        "Try again in a few minutes. If it keeps failing, check the Salesforce connection under Sync Settings and "
        "that the Salesforce Sync User has the View Setup and Configuration and Manage Users permissions.",
    ),
    SupportCode(
        "CMSF-CAMPAIGN-DELETED",
        "A linked Salesforce campaign was deleted in Salesforce",
        "The Salesforce campaign linked to a Campaign Monitor campaign no longer exists in Salesforce, so cmsf unlinked "
        "them. Nothing changed in Campaign Monitor, and the sync went on; auto-create does not make the campaign again.",
        "To keep the campaign's members and statistics in Salesforce, link the Campaign Monitor campaign to another "
        "Salesforce campaign under Salesforce Campaigns > Links.",
    ),
    SupportCode(
        "CMSF-CAMPAIGN-LINK",
        "A linked Salesforce campaign could not be marked",
        "cmsf writes the Campaign Monitor campaign's id on a newly linked Salesforce campaign, so that its statistics "
        "can be written by that id; Salesforce refused the update.",
        "Give the Salesforce Sync User edit access to Campaigns (the CM Full Access permission set), then sync again.",
    ),
    SupportCode(
        "CMSF-MEMBER-STATUS",
        "Campaign members held back: a member status is missing",
        "A linked Salesforce campaign lacks a member status the status map gives its members. Salesforce would "
        "silently give those members the campaign's default status instead, so cmsf did not write them.",
        "Add the statuses to the Salesforce campaign, turn on 'Auto-create missing statuses' under Salesforce "
        "Campaigns, or change the status map; the members are written at the next sync.",
    ),
    SupportCode(
        "CMSF-MEMBERS-UNMATCHED",
        "Recipients with no contact or lead",
        "Some recipients of a linked campaign match no contact or lead in Salesforce, so they are not campaign "
        "members. cmsf never creates contacts or leads for campaign members; they are counted here.",
        "Nothing to do, unless those people should be in Salesforce: once a contact or lead with the recipient's "
        "email exists, the next sync of the campaign's activity links it.",
    ),
    SupportCode(
        "CMSF-CAMPAIGN-TAGS",
        "Campaign Monitor did not give its tags",
        "The Salesforce Campaigns settings could not list the Campaign Monitor tags of the selected clients, so the "
        "tag filter could not be changed; the saved tags were kept.",
        "Try again in a few minutes; if it keeps failing, or the details speak of credentials, reconnect Campaign "
        "Monitor under Sync Settings.",
    ),
    SupportCode(
        "CMSF-CAMPAIGN-PREVIEW",
        "Campaign Monitor did not give its campaigns for the filter's preview",
        "The Salesforce Campaigns settings could not read the sent campaigns of the selected clients, so the preview "
        "of what a campaign filter would leave out could not be shown; nothing was saved or removed.",
        "Try again in a few minutes; if it keeps failing, or the details speak of credentials, reconnect Campaign "
        "Monitor under Sync Settings.",
    ),
    SupportCode(
        "CMSF-CAMPAIGN-SALESFORCE",
        "Salesforce did not answer the Salesforce Campaigns section",
        "Listing the campaigns to link, linking one, or reading the campaigns' rates for the benchmark chart failed "
        "in Salesforce; nothing was linked.",
        "Check the Salesforce connection under Sync Settings, and that the Salesforce Sync User can read Campaigns "
        "and the Campaign Monitor Campaign records, then try again.",
    ),
    SupportCode(
        "CMSF-EMAIL-HISTORY",
        "Campaign Monitor did not give the email history",
        "The email history of a contact or lead could not be read from Campaign Monitor.",
        "Try again in a few minutes. If it keeps failing, or the details speak of credentials, reconnect Campaign "
        "Monitor under Sync Settings.",
    ),
    SupportCode(
        "CMSF-SEND-UNMATCHED",
        "A smart email went to someone Salesforce does not have",
        "A smart email message was sent to an address that no contact or lead has, and the send named no record, so "
        "cmsf wrote no Task for it. The message is kept in cmsf with its id.",
        "Once a contact or lead has the address, the update job writes the Task. To relate a send to a record, give "
        "the record's Id with the send.",
    ),
    SupportCode(
        "CMSF-SEND-TASKS",
        "Salesforce did not take a smart email's Task",
        "Salesforce refused, or did not answer, the Task cmsf writes for a smart email message or its new status.",
        "The messages are kept and the update job sends them again. Run the schema check under Maintenance: cmsf's "
        "Task fields must be installed and editable by the Salesforce Sync User (CM Full Access).",
    ),
    SupportCode(
        "CMSF-SEND-STATUS",
        "Campaign Monitor did not give a smart email's details",
        "The update job could not read the status, opens and clicks of smart email messages from Campaign Monitor.",
        "The next run reads them again. If it keeps failing, check the Campaign Monitor connection under Sync Settings.",
    ),
    SupportCode(
        "CMSF-WEBHOOKS",
        "Campaign Monitor webhooks could not be registered or removed",
        "cmsf registers a webhook on every list of the selected clients, so that subscribes, unsubscribes and updates "
        "reach Salesforce within seconds. Campaign Monitor refused a webhook call; the hourly sync still brings every "
        "change.",
        "Check that the public URL under General Options > Real time is an address Campaign Monitor can reach (a "
        "public https address) and that the Campaign Monitor user has full access, then sync again.",
    ),
    SupportCode(
        "CMSF-WEBHOOK-EVENT",
        "A Campaign Monitor webhook event was quarantined",
        "An event Campaign Monitor posted could not be applied: its shape was not that of a webhook event (refused "
        "when received), or applying it failed, or Salesforce refused its row. It was set aside so that the events "
        "after it are applied; the other events of its batch were kept. The event itself is kept 30 days.",
        "Download the quarantined events under General Options > Real time: each names its problem. The next sync "
        "reads the subscriber's state from Campaign Monitor again, so nothing is lost; if the event looks sound, "
        "send it to support with this code.",
    ),
    SupportCode(
        "CMSF-WEBHOOK-WAIT",
        "Campaign Monitor webhook events are waiting",
        "Webhook events could not be applied because Salesforce (or the connection to it) did not answer. No event "
        "is at fault: they wait, in the order received, and the queue tries again every minute.",
        "Check the Salesforce connection under Sync Settings. The message clears itself once the events are "
        "applied; the hourly sync brings the same changes in any case.",
    ),
    SupportCode(
        "CMSF-WATCHER",
        "Salesforce changes could not be pushed to Campaign Monitor",
        "The watcher reads what changed in Salesforce (contacts, leads, deletions, merges, lead conversions) and pushes "
        "it to Campaign Monitor. A run stopped at Salesforce or Campaign Monitor; the next run reads the same changes "
        "again, so nothing is lost.",
        "Check both connections under Sync Settings. Records that could not be handled are listed with their reason "
        "under General Options > Salesforce changes.",
    ),
    SupportCode(
        "CMSF-SCHEMA-CHECK",
        "The schema check could not run",
        "cmsf could not read the connected org's objects, fields or permission sets to compare them with what it "
        "needs.",
        "Check the Salesforce connection under Sync Settings, and that the Salesforce Sync User can see Setup "
        "(View Setup and Configuration), then run the check again under Maintenance.",
    ),
    SupportCode(
        "CMSF-PAGE-LAYOUTS",
        "Applying or removing the page layouts failed",
        "The deploy of the page layouts failed in Salesforce; a deploy that fails rolls back, so nothing was changed.",
        "Run Check schema under Maintenance and deploy whatever it lists as missing first. If the failure names a "
        "conflict with a change made in Salesforce, set up the page layouts by hand in Setup > Object Manager > "
        "Page Layouts.",
    ),
    SupportCode(
        "CMSF-BACKUP-FAILED",
        "A backup or restore failed",
        "`cmsf backup` could not write or check its snapshot of the database and the keys (a folder that cannot be "
        "written, a disk full, a database that cannot be read), or `cmsf restore` found a backup whose files do not "
        "match their checksums in its manifest. A failed backup leaves nothing behind that could be restored later.",
        "Read the details: free space or fix the backup folder's permissions and run `cmsf backup` again (the message "
        "resolves itself once a backup goes through). A backup that fails its checksums is damaged: restore an "
        "earlier one.",
    ),
    SupportCode(
        "CMSF-BILLING-USAGE",
        "Today's active subscribers could not be counted",
        "cmsf counts the active subscribers in Salesforce every day for billing, and today's count failed.",
        "Check the Salesforce connection under Sync Settings; the count is taken again tomorrow, and a month is "
        "billed at the highest count of its days, so a missed day does not raise the invoice.",
    ),
    SupportCode(
        "CMSF-BILLING-EMAIL",
        "An invoice could not be emailed",
        "The mail server did not take the email of an invoice.",
        "Check the mail server settings (CMSF_EMAIL_HOST and the related settings), then resend the invoice from "
        "Billing.",
    ),
    # Codes of log lines (docs/logging.md): a call sent again, or a wait, that the run got past on its own.
    SupportCode(
        "CMSF-CM-RETRY",
        "A Campaign Monitor call was sent again",
        "Campaign Monitor answered with a server error, took too long, or the connection dropped, so cmsf sent the "
        "call again after a short, growing pause. Writes that may have reached Campaign Monitor are not repeated.",
        "Nothing, while it is now and then: the run goes on. Many in a row mean Campaign Monitor or the network to it "
        "is struggling; if runs then fail (CMSF-SYNC-FAILED), check Campaign Monitor's status and the proxy settings.",
    ),
    SupportCode(
        "CMSF-CM-RATE-LIMIT",
        "Campaign Monitor's rate limit was reached",
        "Campaign Monitor answered 429 (too many requests); cmsf waited the seconds it asked for, then went on.",
        "Nothing, while it is now and then. If it happens in every run, another integration may share the account's "
        "limit, or fewer page reads at once (lower batch sizes under the internal governor limits) may help.",
    ),
    SupportCode(
        "CMSF-SALESFORCE-RETRY",
        "A Salesforce call was sent again",
        "Salesforce answered with a server error, took too long, or the connection dropped, so cmsf sent the call "
        "again after a short, growing pause (only calls that are safe to repeat).",
        "Nothing, while it is now and then: the run goes on. Many in a row mean Salesforce or the network to it is "
        "struggling; check Salesforce's trust status and the proxy settings.",
    ),
)

CODES: dict[str, SupportCode] = {entry.code: entry for entry in _CODES}


def lookup(code: str) -> SupportCode:
    """The entry of a support code; a code not listed gets a general entry (its page always exists)."""
    if code in CODES:
        return CODES[code]
    if code.startswith(SALESFORCE_PREFIX):
        error = code.removeprefix(SALESFORCE_PREFIX)
        return SupportCode(
            code,
            f"Salesforce refused records ({error})",
            f"Salesforce refused records cmsf wrote with the error {error}; the message's details list the "
            "records and Salesforce's own words.",
            "The records were not written; the rest of the batch was. They are tried again on the next sync.",
            registered=False,
        )
    return SupportCode(
        code,
        "A maintenance message",
        "cmsf recorded a problem with this code; the message's details say what happened.",
        "Read the details and the guidance on the message. If the problem keeps coming back, check the connections "
        "and the sync status under Sync Settings.",
        registered=False,
    )


def guidance(code: str) -> str:
    """What to do about a problem with this code: the guidance a maintenance message carries."""
    return lookup(code).action
