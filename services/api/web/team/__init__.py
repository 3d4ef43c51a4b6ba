"""A site's team: who has which role, invitations by link, and the rules of who may change
whom."""
