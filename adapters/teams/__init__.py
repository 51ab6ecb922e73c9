"""Microsoft Teams adapter on the Microsoft 365 Agents SDK for Python.

Modules (imported directly, so that ``package`` and ``render`` load without the SDK's hosting
stack): ``render`` (pure activity ⇄ model conversions), ``routing`` (conversation → tenant),
``references`` (persistent conversation references), ``streaming`` (personal-chat streaming),
``adapter`` (``TeamsAdapter``), ``factory`` (``build_teams_adapter``), ``package``
(``build_app_package``, the Teams app zip).
"""
