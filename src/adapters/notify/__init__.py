"""Notification channels (webhook, Slack, Telegram) and the background dispatcher."""
