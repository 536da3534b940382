"""`cmsf config export` and `cmsf config import`: every setting as one YAML or JSON document."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from cmsf.cli.common import CliError, require_initialized


def cmd_config_export(args: argparse.Namespace) -> int:
    from cmsf.configuration import dump, export_document

    require_initialized()
    sys.stdout.write(dump(export_document(), args.format))
    return 0


def cmd_config_import(args: argparse.Namespace) -> int:
    from cmsf.configuration import MAX_DOCUMENT_BYTES, import_document, read_document

    require_initialized()
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)  # one byte over the cap is enough to refuse
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from None
    changes = import_document(read_document(data), actor=args.actor or f"cli:{getpass.getuser()}")
    if not changes:
        print("no setting changed")
    for key, before, after in changes:
        print(f"{key}: {json.dumps(before, default=str)} -> {json.dumps(after, default=str)}")
    return 0
