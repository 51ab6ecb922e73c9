"""Microsoft Teams on the Microsoft 365 Agents SDK for Python.

Modules (imported directly, so that ``package`` and ``render`` load without the SDK's hosting
stack): ``render`` (pure activity ⇄ model conversions), ``routing`` (conversation → tenant),
``references`` (persistent conversation references), ``streaming`` (personal-chat streaming),
``channel`` (Teams as the question lifecycle sees it), ``adapter`` (``TeamsAdapter``), ``factory``
(built from the runtime), ``package`` (``build_app_package``, the Teams app zip), ``cli`` and
``platform`` (its spec).
"""

PLATFORM = "teams"  # its rows in the state DB, its channels in the manifest
