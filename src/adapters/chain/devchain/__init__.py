"""The dev chain: Vyper contracts with the real protocols' ABI subsets, their deployment,
oracle updates and time travel, and loopback fake 1inch and Pendle HTTP APIs."""
