"""The server side of the Prefect integration, and the repository's Prefect examples.

prefect-multimail's own tests live beside it (integrations/prefect-multimail/tests). What stays here
is not part of that package: the SDK calls it relies on (multimail_server.client, released with the server),
and examples/prefect (files of this repository, not shipped with prefect-multimail).
"""
