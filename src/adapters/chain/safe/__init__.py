"""Safe custody: the audited Safe v1.4.1 contracts and the Zodiac Roles Modifier v2 scope."""
