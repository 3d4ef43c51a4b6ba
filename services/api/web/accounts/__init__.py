"""People who sign in to the web app: users, their sessions, their roles on sites,
invitations, second factors, and the one-time link that creates the first owner."""
