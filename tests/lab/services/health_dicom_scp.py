"""Lab DICOM SCP (pynetdicom) that logs every association and every DIMSE request.

``--mode open`` accepts any calling and called AE title (a PACS left at its defaults);
``--mode strict`` requires its own AE title as the called title and the calling title to
be on ``--allow``. It offers Verification, Storage and Query/Retrieve, so a scanner that
sent C-FIND, C-MOVE, C-GET or C-STORE would get through and be caught in the log.
Run with the scanner venv's interpreter (pynetdicom is not in Debian's python3).
"""

from __future__ import annotations

import argparse
import json
import ssl
import time

from pynetdicom import (
    AE,
    AllStoragePresentationContexts,
    QueryRetrievePresentationContexts,
    VerificationPresentationContexts,
    evt,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("open", "strict"), required=True)
    parser.add_argument("--ae-title", default="LABPACS")
    parser.add_argument("--allow", action="append", default=[])
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    def log(**entry) -> None:
        with open(args.log, "a") as out:
            out.write(json.dumps({"t": time.time(), "port": args.port, **entry}) + "\n")

    ae = AE(ae_title=args.ae_title)
    for contexts in (
        VerificationPresentationContexts,
        AllStoragePresentationContexts,
        QueryRetrievePresentationContexts,
    ):
        for cx in contexts:
            ae.add_supported_context(cx.abstract_syntax)
    if args.mode == "strict":
        ae.require_called_aet = True
        ae.require_calling_aet = args.allow
    handlers = [
        (
            evt.EVT_REQUESTED,
            lambda e: log(
                event="association",
                calling=e.assoc.requestor.ae_title,
                called=e.assoc.acceptor.ae_title,
            ),
        ),
        (evt.EVT_DIMSE_RECV, lambda e: log(event="dimse", message=type(e.message).__name__)),
        (evt.EVT_C_ECHO, lambda e: 0x0000),
    ]
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
    log(event="ready")
    ae.start_server(("0.0.0.0", args.port), block=True, evt_handlers=handlers, ssl_context=context)


if __name__ == "__main__":
    main()
