"""Reports rendered for operators: backtest tables, JSON, charts and HTML."""
