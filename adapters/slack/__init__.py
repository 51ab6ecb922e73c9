"""Slack adapter: slack-bolt AsyncApp (HTTP Events API or Socket Mode); everything Slack lives here."""
