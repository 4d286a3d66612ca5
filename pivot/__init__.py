"""Pivot links and callbacks: from a tweet, DM or email to a voice call on the same case.

An agent mints a link bound to the case, contact, source interaction and agent
(``pivot.links``); the customer opens it on a phone (``pivot.pages``) and asks for a call, now or
at a time within opening hours (``pivot.callbacks``); the scheduler (``pivot.scheduler``) turns a
due callback into a voice interaction on the same case, offered first to the agent who sent the
link, and the voice connector dials both and bridges them. Failed attempts are retried on a
schedule; a callback that never connects is reported to the agent and the customer.
"""
