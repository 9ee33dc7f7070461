"""Local websocket servers that speak real venue protocols from recorded sessions (tests, bench)."""
