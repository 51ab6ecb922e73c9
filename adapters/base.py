"""The adapter protocol, defined by the core (bot.ports) and re-exported for adapter packages."""

from bot.ports import Adapter

__all__ = ["Adapter"]
