"""Teams: ``kairan serve`` against the Microsoft 365 Agents Playground (see ``run``)."""
