"""Who may see what: the dashboard's database roles (row-level security) and its sign-in accounts."""

# The dashboard's account roles.  Here rather than in accounts.py so that the command line can offer them
# without loading the password hasher.
ROLES = ("pm", "engineer", "venue_owner")
