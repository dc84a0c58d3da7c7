"""Daily market history files for the backtester: the project's CSV and Coin Metrics' format."""
