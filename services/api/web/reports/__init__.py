"""E-mail reports (weekly, monthly) and traffic spike / drop alerts: aggregate only."""
