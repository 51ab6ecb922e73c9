"""Slack: slack-bolt AsyncApp (HTTP Events API or Socket Mode); everything Slack lives here.

``payloads`` and ``render`` (pure conversions), ``channel`` (Slack as the question lifecycle sees it),
``app`` (``SlackAdapter``), ``factory`` (built from the runtime), ``cli`` and ``platform`` (its spec).
"""

PLATFORM = "slack"  # its rows in the state DB, its channels in the manifest
