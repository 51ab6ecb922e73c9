"""kairan's connector client posts no null; the SDK's own would, and the Agents Playground refuses it.

The activity is prepared as the SDK prepares every activity it sends in a proactive turn (a digest,
a redelivered answer, a resumed answer, the ask-again notice): the continuation reference applied,
then ``id`` set to None; the SDK's ``send_to_conversation`` then serialises it with
``exclude_unset`` only. The mock connector refuses a null the way the Playground does (400).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from microsoft_agents.activity import Activity, ConversationReference
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClient
from microsoft_agents.hosting.core.connector.client.connector_client import ConversationsOperations

from adapters.teams import render
from adapters.teams.connector import NullFreeConversations, drop_nulls
from tests.adapters.teams.conftest import SOUMU_DIGEST
from tests.fakes.teams_connector import MockConnector, first_null

TEAM = "19:2b4d6f8a0c1e3a5c7e9a1b3d5f7a9c1e@thread.tacv2"


@pytest.fixture
async def connector() -> AsyncIterator[MockConnector]:
    async with MockConnector() as mock:
        yield mock


def proactive(service_url: str) -> Activity:
    """A digest post as TurnContext.send_activities hands it to the connector in a proactive turn."""
    reference = ConversationReference.model_validate(
        {
            "bot": {"id": "28:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "name": "kairan"},
            "conversation": {"id": TEAM, "conversationType": "channel", "isGroup": True},
            "channelId": "msteams",
            "serviceUrl": service_url,
        }
    )
    activity = Activity.model_validate(render.digest_activity(SOUMU_DIGEST))
    activity = TurnContext.apply_conversation_reference(activity, reference)
    activity.id = None  # as TurnContext.send_activities and ChannelServiceAdapter.send_activities do
    return activity


async def test_the_sdks_own_client_posts_nulls_that_a_strict_connector_refuses(
    connector: MockConnector,
) -> None:
    client = ConnectorClient(connector.service_url, "")
    activity = proactive(connector.service_url)
    try:
        with pytest.raises(aiohttp.ClientResponseError) as refused:
            await ConversationsOperations(client.client).send_to_conversation(TEAM, activity)
    finally:
        await client.close()

    assert refused.value.status == 400
    [(where, body)] = connector.invalid
    assert where in ("id", "locale") and body["id"] is None and body["locale"] is None
    assert connector.posted == []


async def test_kairans_client_posts_the_same_activity_without_a_null(connector: MockConnector) -> None:
    activity = proactive(connector.service_url)
    expected = drop_nulls(activity.model_dump(mode="json", by_alias=True, exclude_unset=True))
    client = ConnectorClient(connector.service_url, "")
    try:
        response = await NullFreeConversations(client.client).send_to_conversation(TEAM, activity)
    finally:
        await client.close()

    [posted] = connector.posted
    assert response.id == posted.id and connector.invalid == []
    assert first_null(posted.activity) is None
    assert "id" not in posted.activity and "locale" not in posted.activity
    assert posted.activity == expected  # nothing else changed: the entity got no default filled in
    [entity] = posted.activity["entities"]
    assert "additionalType" not in entity  # a digest is not AI-generated content


def test_drop_nulls_goes_into_mappings_and_lists() -> None:
    value = {"a": None, "b": [None, {"c": None, "d": 1}], "e": {"f": None}, "g": 0, "h": ""}
    assert drop_nulls(value) == {"b": [{"d": 1}], "e": {}, "g": 0, "h": ""}
    assert first_null(drop_nulls(value)) is None
    assert first_null(value) == "a"
