"""Price prediction assets, checks and triggers (group `price_model`)."""
