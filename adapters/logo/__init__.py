"""LoGo Chat over its MessagePack-RPC WebSocket API (``client``, ``login``).

``render`` (pure conversions), ``channel`` (LoGo as the question lifecycle sees it), ``adapter``
(``LogoAdapter``), ``factory`` (built from the runtime), ``cli`` and ``platform`` (its spec).
"""

PLATFORM = "logo"  # its rows in the state DB, its channels in the manifest
