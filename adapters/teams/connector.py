"""The Bot Connector client kairan posts with: the SDK's own, sending no ``null``.

The SDK sets ``id`` (and, from a reference without one, ``locale``) to None on every activity it
sends, and its ``send_to_conversation`` — every post that is not a reply to an inbound activity:
digests, redelivered answers, resumed answers, the ask-again notice, typing indicators in a
proactive turn — serialises the activity with ``exclude_unset`` only, so the body carries
``"id": null`` / ``"locale": null``. Teams ignores them; the Microsoft 365 Agents Playground
answers 400 (as any strict reader of the Bot Framework schema may). ``reply_to_activity`` already
leaves nulls out; here ``send_to_conversation`` and ``update_activity`` do as well.

``NullFreeClientFactory`` is the SDK's ``RestChannelServiceClientFactory`` whose connector clients
post through ``NullFreeConversations``; ``CloudAdapter`` takes it as its client factory.

``AnonymousConnections``: the outbound token providers of the development mode, where kairan has no
credentials (``platforms.teams.dev_anonymous``): every token is the SDK's anonymous (empty) one.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from microsoft_agents.activity import Activity, ResourceResponse
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    AnonymousTokenProvider,
    RestChannelServiceClientFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization import AccessTokenProviderBase, ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClient, ConnectorClientBase
from microsoft_agents.hosting.core.connector.client.connector_client import ConversationsOperations


def drop_nulls(value: Any) -> Any:
    """A JSON-like value with every ``None`` (at any depth, in mappings and lists) left out."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


class _WithoutNulls:
    """The activity as the connector client reads it, serialised as the SDK does it minus the nulls.

    Re-validating the dump into a new ``Activity`` would not do: the SDK's entity models fill in
    defaults (an ``AIGeneratedContent`` label on every schema.org Message entity, for one).
    """

    def __init__(self, activity: Activity) -> None:
        self._activity = activity

    def __getattr__(self, name: str) -> Any:
        return getattr(self._activity, name)

    def model_dump(self, **options: Any) -> Any:
        return drop_nulls(self._activity.model_dump(**options))


def without_nulls(activity: Activity) -> Activity:
    return cast(Activity, _WithoutNulls(activity))


class NullFreeConversations(ConversationsOperations):
    async def send_to_conversation(self, conversation_id: str, body: Activity) -> ResourceResponse:
        return await super().send_to_conversation(conversation_id, without_nulls(body))

    async def update_activity(
        self, conversation_id: str, activity_id: str, body: Activity
    ) -> ResourceResponse:
        return await super().update_activity(conversation_id, activity_id, without_nulls(body))


class NullFreeClientFactory(RestChannelServiceClientFactory):
    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        client = await super().create_connector_client(
            context, claims_identity, service_url, audience, scopes, use_anonymous
        )
        if isinstance(client, ConnectorClient):
            # The SDK builds its operations in ConnectorClient.__init__, on the session it just made.
            client._conversations = NullFreeConversations(client.client)
        return client


class AnonymousConnections:
    """``Connections`` without credentials: the anonymous token provider for every connection."""

    def __init__(self) -> None:
        self._provider = AnonymousTokenProvider()

    def get_connection(self, connection_name: str) -> AccessTokenProviderBase:
        return self._provider

    def get_default_connection(self) -> AccessTokenProviderBase:
        return self._provider

    def get_token_provider(
        self, claims_identity: ClaimsIdentity, service_url: str
    ) -> AccessTokenProviderBase:
        return self._provider

    def get_token_provider_from_activity(
        self, claims_identity: ClaimsIdentity, activity: Activity
    ) -> AccessTokenProviderBase:
        return self._provider

    def get_default_connection_configuration(self) -> AgentAuthConfiguration:
        return AgentAuthConfiguration(anonymous_allowed=True)


USER_TOKEN_CLIENT_LOGGER = "microsoft_agents.hosting.core.connector.client.user_token_client"


class _DropMissingAppId(logging.Filter):
    """Without credentials there is no app id, by design: the SDK warns so on every turn."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("App ID is not provided")


_MISSING_APP_ID = _DropMissingAppId()


def quiet_missing_app_id() -> None:
    """Install the filter once on the SDK's user-token-client logger (development mode only)."""
    logger = logging.getLogger(USER_TOKEN_CLIENT_LOGGER)
    if _MISSING_APP_ID not in logger.filters:
        logger.addFilter(_MISSING_APP_ID)
