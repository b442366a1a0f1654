"""The load tool: simulated participants that join over the real protocol and measure."""
