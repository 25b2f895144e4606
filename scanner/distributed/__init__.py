"""Multi-site scanning: runners in each network segment audit the hosts of their site and
return signed results; the central scan verifies, assembles and stores them.

The broker is Celery on Redis, one queue per site (``site.<name>``); runners connect out to
it, so a segment needs no inbound port. Nothing secret travels through it: a task names a
target (address, user, key *paths*, the *names* of password environment variables) and the
policy; each runner reads keys and passwords on its own machine. Every result is a DSSE
envelope signed by the runner's own Ed25519 key, checked against the central allow-list of
runner keys per site before it becomes part of the scan (hygie.distributed.ingest).

Modules, one job each: ``wire`` (what a task and a result carry), ``app`` (the Celery
configuration both sides share), ``tasks`` (the runner's task), ``ingest`` (verifying and
assembling results), ``dispatch`` (the central side: send, wait, give up on silent sites),
``progress`` (a bar per site), ``cli_worker`` (``hygie worker`` and the scan's broker
options). Celery and redis are the optional extra ``distributed``: nothing here is imported
by a scan without ``--broker``.
"""
