"""Market intelligence adapters: CoinGecko, Glassnode, Coinglass, Alternative.me, the cache and
aggregate over them, and the simulated and CSV-replay markets for paper trading and backtests."""
