"""Who may see what: the dashboard's database roles (row-level security) and its sign-in accounts."""
