"""Chain adapters: the executor, signer, protocol adapters and the dev chain."""
