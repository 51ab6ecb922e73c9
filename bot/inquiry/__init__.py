"""The 照会 loop: a question the sources do not answer goes to people, and their answer becomes knowledge.

* ``store``: offers, inquiries and captured replies in the state database (claims with ``INSERT … ON
  CONFLICT``, work under a lease, like the outbox), so each inquiry is posted once, each answer captured
  once, and a restart loses nothing.
* ``text``: what the loop says (the 照会 post, the notices to the asker and the responder). Pure.
* ``knowledge``: an answered inquiry as a Q&A document in the tenant's Q&A collection (through the
  normal ingest path), replaced when corrected, removed when withdrawn.
* ``desk``: the loop itself, platform-neutral; each chat platform gives it an ``InquiryPort``
  (``bot.ports``) and hands it the asker's confirmations and the responders' replies.
"""
