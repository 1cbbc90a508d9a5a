"""Market-data assets: raw bars in, validated bars, rejects, features and daily summaries out."""
