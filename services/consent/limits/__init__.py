"""Rate limits of the consent service: writes per client and per site, mails per address."""
