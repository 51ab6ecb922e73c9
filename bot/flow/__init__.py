"""The question lifecycle every chat platform shares (``lifecycle``) and the loops it runs: ``resume``
answers the questions whose bot died, ``redelivery`` posts what the outbox kept."""
