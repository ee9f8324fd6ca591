"""`uec-booking check`: the standard's conformance tests as one command.

`check provider URL` runs the NHS test kit's autotest chains (capability, search, book,
cancel) and the Care Connect provider assurance scripts against any provider, over the wire
only; `check consumer` starts a sandbox in assurance mode that records and grades every
request of a consumer under test. Both report as a table, JSON, JUnit XML or HTML.

This is a tester actor: it talks to the systems it checks only over HTTP.
"""
